//! The traits every state backend implements: read and write the lockfile
//! document, take and break the lock, append to and read the journal.

use super::journal::Record;
use super::lock::{LockGuard, LockInfo};
use super::lockfile::{Lockfile, StateError};
use std::time::Duration;

/// Reads the lockfile document.
pub trait StateReader {
    /// The document as last written, without the journal; `None` when none was written yet.
    fn read_document(&self, migration: &str) -> Result<Option<Lockfile>, StateError>;
}

/// Writes the lockfile document.
pub trait StateWriter {
    /// Replaces the document atomically (all or nothing) and durably.
    fn write(&self, doc: &Lockfile) -> Result<(), StateError>;
}

/// Keeps two operations on one migration apart.
pub trait StateLocker {
    /// Takes the lock, waiting up to `wait` for another holder to let go;
    /// `StateError::Locked` names the holder when it does not.
    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn LockGuard>, StateError>;
    /// The current holder, if any.
    fn holder(&self) -> Result<Option<LockInfo>, StateError>;
    /// Breaks a lock whose holder is gone; `id` must match the holder's.
    fn force_unlock(&self, id: &str) -> Result<(), StateError>;
}

/// The append-only journal of transitions made during an apply.
pub trait JournalStore: Send + Sync {
    /// Appends records durably: when this returns, they survive a crash.
    fn append(&self, records: &[Record]) -> Result<(), StateError>;
    /// The journal as stored: one encoded record a line, in order.
    fn journal_text(&self) -> Result<String, StateError>;
    /// Empties the journal, once its records are folded into the document.
    fn clear(&self) -> Result<(), StateError>;
}

/// A complete state backend.
pub trait Backend: StateReader + StateWriter + StateLocker + JournalStore {
    /// Where the state lives, for messages: "cutover.lock", "s3://bucket/key".
    fn describe(&self) -> String;

    /// Where the journal lives, for messages.
    fn journal_name(&self) -> String {
        format!("the journal of {}", self.describe())
    }

    /// Every record of the journal, in order; a torn last record is ignored,
    /// any other damage is an error that names its line.
    fn records(&self) -> Result<Vec<Record>, StateError> {
        super::journal::decode_all(&self.journal_text()?).map_err(|d| StateError::JournalDamaged {
            journal: self.journal_name(),
            line: d.line,
            reason: d.reason,
        })
    }

    /// The document with the journal folded in; `None` when nothing was applied yet.
    fn read(&self, migration: &str) -> Result<Option<Lockfile>, StateError> {
        let doc = self.read_document(migration)?;
        apply_records(doc, self.records()?, migration, &self.journal_name())
    }

    /// Folds the journal into the document and empties the journal.
    fn fold(&self, migration: &str) -> Result<Option<Lockfile>, StateError> {
        let records = self.records()?;
        if records.is_empty() {
            return self.read_document(migration);
        }
        let doc = apply_records(
            self.read_document(migration)?,
            records,
            migration,
            &self.journal_name(),
        )?;
        if let Some(d) = &doc {
            self.write(d)?;
        }
        self.clear()?;
        Ok(doc)
    }
}

/// Applies journal records to a document (creating it from the first record
/// if needed). Records of another lineage are refused: the journal belongs to
/// another run or another copy of the state.
pub fn apply_records(
    doc: Option<Lockfile>,
    records: Vec<Record>,
    migration: &str,
    journal: &str,
) -> Result<Option<Lockfile>, StateError> {
    let mut doc = doc;
    let any = !records.is_empty();
    for r in records {
        let d = doc.get_or_insert_with(|| Lockfile::new(migration, &r.lineage));
        if d.lineage != r.lineage {
            return Err(StateError::ForeignJournal {
                journal: journal.to_string(),
                found: r.lineage.clone(),
                expected: d.lineage.clone(),
            });
        }
        match r.change {
            super::journal::Change::Node { address, state } => {
                d.nodes.insert(address, *state);
            }
            super::journal::Change::Outputs { outputs } => d.outputs = outputs,
            super::journal::Change::SpecDigest { digest } => d.spec_digest = digest,
            // Approvals count only for the apply that waits for them; the
            // document does not keep them.
            super::journal::Change::Approval { .. } => {}
            super::journal::Change::RunStarted { run } => {
                super::history::open(&mut d.history, *run)
            }
            super::journal::Change::RunEvents { run, events } => {
                super::history::extend(&mut d.history, &run, events)
            }
            super::journal::Change::RunFinished { run, end } => {
                super::history::close(&mut d.history, &run, &end)
            }
        }
    }
    if let Some(d) = &mut doc {
        if any {
            d.serial += 1;
        }
    }
    Ok(doc)
}
