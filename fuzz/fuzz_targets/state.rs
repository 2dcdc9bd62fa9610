//! The state read path on arbitrary bytes: a lockfile parses or is refused
//! as corrupt, never a panic, and what parses writes back to a document that
//! reads as the same lockfile. Journal lines (each given a valid checksum,
//! so the fuzzer reaches the records themselves) fold into it the same way.
#![no_main]

use cutover::state::backend::apply_records;
use cutover::state::{journal, Lockfile};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A lockfile and a journal, split at the first form feed when there is one.
    let (doc, lines) = text.split_once('\x0c').unwrap_or((text, ""));
    let doc = Lockfile::parse(doc, Path::new("cutover.lock"), "m").ok();
    if let Some(d) = &doc {
        reads_back(d);
    }
    let journal: String = lines.lines().map(journal::line).collect();
    let Ok(records) = journal::decode_all(&journal) else { return };
    if let Ok(Some(folded)) = apply_records(doc, records, "m", "journal") {
        reads_back(&folded);
    }
});

fn reads_back(doc: &Lockfile) {
    let text = doc.to_json();
    match Lockfile::parse(&text, Path::new("written"), "m") {
        Ok(again) => assert_eq!(&again, doc, "{text}"),
        Err(e) => panic!("what cutover wrote does not read back: {e}\n{text}"),
    }
}
