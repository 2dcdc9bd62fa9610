//! The spec front end on arbitrary bytes: loading, checking, building the
//! graph, evaluating every node and formatting must end in values or
//! located diagnostics, never in a panic or a hang; and `fmt` of a
//! well-formed file must parse back to the same syntax tree, and
//! formatting it again must change nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("main.hcl"), data).expect("the spec file");
    let _ = cutover::validate(dir.path());
    if let Ok(text) = std::str::from_utf8(data) {
        // A well-formed file's layout must never change what it means.
        use cutover::spec::format;
        if format::parses(text) {
            let formatted = format::format_checked(text).expect("fmt changed the meaning");
            assert_eq!(format::format(&formatted), formatted, "fmt is not idempotent");
        }
    }
});
