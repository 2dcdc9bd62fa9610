//! The coordinator's record of the walk: the lockfile document as it
//! changes, and the journal records not yet durable. Every transition goes
//! through [`Recorder::record`]; [`Recorder::flush`] makes them durable with
//! one append (one fsync) for the batch.

use crate::state::{Backend, Lockfile, NodeState, Record, StateError};
use std::time::{Duration, Instant};

pub(super) struct Recorder {
    pub doc: Lockfile,
    pub lineage: String,
    records: Vec<Record>,
    /// Loop counts not journaled yet (they go before `records`, which are newer).
    progress: Vec<Record>,
    progress_flushed: Instant,
}

impl Recorder {
    pub fn new(doc: Lockfile, lineage: String) -> Recorder {
        Recorder {
            doc,
            lineage,
            records: Vec::new(),
            progress: Vec::new(),
            progress_flushed: Instant::now(),
        }
    }

    /// A node's new state: in the document now, in the journal at the next flush.
    pub fn record(&mut self, address: &str, state: NodeState) {
        self.doc.nodes.insert(address.to_string(), state.clone());
        self.records
            .push(Record::node(&self.lineage, address, state));
    }

    /// A repeating step's loop count: journaled with the next transition, or alone once a second.
    pub fn progress(&mut self, address: &str, state: NodeState) {
        self.progress
            .push(Record::node(&self.lineage, address, state));
    }

    /// A record that is not a node's state (outputs, the spec digest).
    pub fn push(&mut self, record: Record) {
        self.records.push(record);
    }

    /// Makes every pending record durable: one fsync for the batch.
    pub fn flush(&mut self, backend: &dyn Backend) -> Result<(), StateError> {
        // Loop counts ride with the next transition, or go alone once a second:
        // `until` decides where a loop resumes, so they need no fsync each.
        let counts_due =
            !self.progress.is_empty() && self.progress_flushed.elapsed() >= Duration::from_secs(1);
        if self.records.is_empty() && !counts_due {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.progress);
        batch.append(&mut self.records);
        self.progress_flushed = Instant::now();
        backend.append(&batch)
    }
}
