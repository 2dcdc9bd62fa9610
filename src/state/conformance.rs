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
    history_survives_folding_and_is_bounded(&make);
}

fn run_record(id: &str, keep: usize) -> Record {
    let run = super::history::Run {
        id: id.into(),
        command: "apply".into(),
        by: super::history::Who {
            user: "ops".into(),
            host: "h".into(),
            ci: None,
        },
        started_at: "2026-12-02T01:00:00.000Z".into(),
        finished_at: None,
        plan: Some("fp".into()),
        outcome: None,
        message: None,
        summary: Default::default(),
        compacted: false,
        keep,
        events: Vec::new(),
    };
    Record {
        lineage: "lineage-1".into(),
        change: Change::RunStarted { run: Box::new(run) },
    }
}

fn events_record(id: &str, seqs: std::ops::Range<u64>) -> Record {
    let events = seqs
        .map(|seq| super::history::Stamped {
            at: "2026-12-02T01:00:01.000Z".into(),
            event: serde_json::json!({ "event": "node_started", "address": "step.a", "wave": 1, "attempt": 1, "seq": seq }).into(),
        })
        .collect();
    Record {
        lineage: "lineage-1".into(),
        change: Change::RunEvents {
            run: id.into(),
            events,
        },
    }
}

fn end_record(id: &str) -> Record {
    Record {
        lineage: "lineage-1".into(),
        change: Change::RunFinished {
            run: id.into(),
            end: super::history::RunEnd {
                finished_at: "2026-12-02T01:00:02.000Z".into(),
                outcome: super::history::RunOutcome::Succeeded,
                message: Some("Apply complete.".into()),
                summary: Default::default(),
            },
        },
    }
}

fn history_survives_folding_and_is_bounded<B: Backend, K>(make: &impl Fn() -> (B, K)) {
    let (b, _k) = make();
    b.write(&doc(1)).unwrap();
    b.append(&[run_record("r1", 2), events_record("r1", 1..3)])
        .unwrap();
    // A run going on is seen by any reader, without the lock.
    let live = b.read(M).unwrap().unwrap();
    assert_eq!(live.history.len(), 1);
    assert!(live.history[0].is_open());
    assert_eq!(live.history[0].events.len(), 2);
    // Records seen twice (a reader racing a fold) count once.
    b.append(&[events_record("r1", 2..4), end_record("r1")])
        .unwrap();
    let folded = b.fold(M).unwrap().unwrap();
    assert!(b.records().unwrap().is_empty());
    assert_eq!(b.read(M).unwrap().unwrap().history, folded.history);
    let r1 = &folded.history[0];
    assert_eq!(r1.events.len(), 3, "events 1, 2, 3 once each");
    assert_eq!(r1.outcome, Some(super::history::RunOutcome::Succeeded));
    // Beyond the newest run's `keep` (3) runs, the oldest keep their summary only.
    for id in ["r2", "r3"] {
        b.append(&[run_record(id, 2), events_record(id, 1..2), end_record(id)])
            .unwrap();
    }
    // A run that never recorded its end is closed when the next one starts.
    b.append(&[run_record("r4", 3)]).unwrap();
    b.append(&[run_record("r5", 3)]).unwrap();
    let h = b.fold(M).unwrap().unwrap().history;
    let ids: Vec<&str> = h.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2", "r3", "r4", "r5"]);
    assert!(h[0].compacted && h[0].events.is_empty() && h[1].compacted);
    assert!(!h[2].compacted && h[2].events.len() == 1);
    assert_eq!(h[3].outcome, Some(super::history::RunOutcome::Vanished));
    assert!(h[4].is_open());
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
