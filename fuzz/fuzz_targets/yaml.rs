//! `yamldecode` on arbitrary text ends in a value or an error, never a
//! panic; and what `yamlencode` writes reads back as the same value.
#![no_main]

use cutover::eval::yaml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = yaml::decode(text) else { return };
    let written = yaml::encode(&value);
    assert_eq!(
        yaml::decode(&written).as_ref(),
        Ok(&value),
        "{written}"
    );
});
