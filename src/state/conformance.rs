//! The conformance suite every state backend must pass. A backend's tests
//! call [`run`] with a factory that makes a fresh, empty backend (and
//! anything that must live as long as it, such as a temporary directory).

use super::backend::Backend;
use super::journal::{Change, Record};
use super::lock::LockInfo;
use super::lockfile::{Lockfile, NodeState, NodeStatus, StateError};
use std::time::Duration;

const M: &str = "conformance";

fn doc(serial: u64) -> Lockfile {
    let mut d = Lockfile::new(M, "lineage-1");
    d.serial = serial;
    d.spec_digest = "abc".into();
    d.nodes
        .insert("step.a".into(), NodeState::new(NodeStatus::Done, "d1"));
    d
}

/// Runs every check against backends made by `make`.
pub fn run<B, K, F>(make: F)
where
    B: Backend + 'static,
    F: Fn() -> (B, K),
{
    empty_state_reads_as_none(&make);
    written_document_reads_back(&make);
    second_lock_is_refused_naming_the_holder(&make);
    lock_is_released_when_dropped_and_waiting_works(&make);
    journal_is_folded_into_the_document(&make);
    a_journal_of_another_lineage_is_refused_and_kept(&make);
    force_unlock_needs_the_right_id(&make);
}

fn empty_state_reads_as_none<B: Backend, K>(make: &impl Fn() -> (B, K)) {
    let (b, _k) = make();
    assert!(
        b.read(M).unwrap().is_none(),
        "a new backend holds no document"
    );
    assert!(b.holder().unwrap().is_none(), "a new backend is not locked");
    assert!(b.records().unwrap().is_empty());
}

fn written_document_reads_back<B: Backend, K>(make: &impl Fn() -> (B, K)) {
    let (b, _k) = make();
    b.write(&doc(4)).unwrap();
    assert_eq!(b.read(M).unwrap(), Some(doc(4)));
    b.write(&doc(5)).unwrap();
    assert_eq!(b.read(M).unwrap().unwrap().serial, 5);
    assert!(
        matches!(b.read("another"), Err(StateError::Foreign { .. })),
        "a foreign document is refused"
    );
}

fn second_lock_is_refused_naming_the_holder<B: Backend, K>(make: &impl Fn() -> (B, K)) {
    let (b, _k) = make();
    let first = LockInfo::current("apply");
    let guard = b.lock(first.clone(), Duration::ZERO).unwrap();
    assert_eq!(guard.info(), &first);
    match b.lock(LockInfo::current("rollback"), Duration::ZERO) {
        Err(StateError::Locked { holder }) => {
            assert_eq!(holder.id, first.id);
            assert_eq!(holder.operation, "apply");
        }
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second lock was granted"),
    }
    assert_eq!(b.holder().unwrap().map(|h| h.id), Some(first.id));
    drop(guard);
}

fn lock_is_released_when_dropped_and_waiting_works<B: Backend + 'static, K>(
    make: &impl Fn() -> (B, K),
) {
    let (b, _k) = make();
    let guard = b.lock(LockInfo::current("apply"), Duration::ZERO).unwrap();
    drop(guard);
    assert!(b.holder().unwrap().is_none());
    let guard = b.lock(LockInfo::current("apply"), Duration::ZERO).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(guard);
    });
    let again = b.lock(LockInfo::current("apply"), Duration::from_secs(10));
    assert!(
        again.is_ok(),
        "waiting for the lock should succeed once it is released"
    );
    releaser.join().unwrap();
}

fn journal_is_folded_into_the_document<B: Backend, K>(make: &impl Fn() -> (B, K)) {
    let (b, _k) = make();
    b.write(&doc(1)).unwrap();
    let mut s = NodeState::new(NodeStatus::Started, "d2");
    s.started_at = Some("2026-01-01T00:00:00Z".into());
    b.append(&[Record::node("lineage-1", "step.b", s.clone())])
        .unwrap();
    s.status = NodeStatus::Done;
    b.append(&[
        Record::node("lineage-1", "step.b", s.clone()),
        Record {
            lineage: "lineage-1".into(),
            change: Change::SpecDigest {
                digest: "new".into(),
            },
        },
    ])
    .unwrap();
    assert_eq!(b.records().unwrap().len(), 3);
    let read = b.read(M).unwrap().unwrap();
    assert_eq!(read.nodes["step.b"].status, NodeStatus::Done);
    assert_eq!(read.spec_digest, "new");
    assert_eq!(read.serial, 2, "folding the journal is one more version");
    let folded = b.fold(M).unwrap().unwrap();
    assert_eq!(folded, read);
    assert!(b.records().unwrap().is_empty(), "fold empties the journal");
    assert_eq!(
        b.read(M).unwrap(),
        Some(read),
        "folding is invisible to readers"
    );
}

fn a_journal_of_another_lineage_is_refused_and_kept<B: Backend, K>(make: &impl Fn() -> (B, K)) {
    let (b, _k) = make();
    b.write(&doc(1)).unwrap();
    b.append(&[Record::node(
        "other",
        "step.z",
        NodeState::new(NodeStatus::Done, "x"),
    )])
    .unwrap();
    assert!(matches!(b.read(M), Err(StateError::ForeignJournal { .. })));
    assert!(b.fold(M).is_err(), "fold refuses it too");
    assert!(
        !b.journal_text().unwrap().is_empty(),
        "and never deletes it"
    );
}

fn force_unlock_needs_the_right_id<B: Backend, K>(make: &impl Fn() -> (B, K)) {
    let (b, _k) = make();
    assert!(b.force_unlock("nope").is_err(), "nothing to unlock");
    let guard = b.lock(LockInfo::current("apply"), Duration::ZERO).unwrap();
    assert!(b.force_unlock("wrong-id").is_err());
    drop(guard);
}
