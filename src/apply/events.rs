//! What apply tells the operator: one event per transition, rendered by a
//! [`Reporter`](super::Reporter) as a live view, plain lines or JSON.

use serde::{Deserialize, Serialize};

/// One thing that happened during apply or rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    ApplyStarted {
        migration: String,
        nodes: usize,
        waves: u32,
    },
    NodeStarted {
        address: String,
        wave: u32,
        attempt: u32,
    },
    /// A gate was polled: what was measured, and how long it has held.
    GatePolled {
        address: String,
        holds: bool,
        measured: String,
        held_ms: u64,
        for_ms: u64,
        remaining_ms: u64,
        /// The one number measured, when there is one (charted in reports).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        limits: Vec<crate::providers::Limit>,
        /// An approval gate: it waits for a person, not a measurement.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        approval: bool,
    },
    /// A repeating step finished an iteration.
    StepProgress {
        address: String,
        iteration: u64,
        /// Rows this iteration changed (sql steps).
        rows_affected: Option<u64>,
        /// Rows changed by all iterations so far.
        total_rows: u64,
        /// What `remaining` reads now, when the step gives it.
        remaining: Option<f64>,
        rows_per_s: f64,
        iterations_per_s: f64,
        eta_ms: Option<u64>,
    },
    /// A repeating step's throttle does not hold: its loop waits.
    StepThrottled {
        address: String,
        throttle: String,
        measured: String,
        waited_ms: u64,
        max_wait_ms: u64,
    },
    NodeDone {
        address: String,
        elapsed_ms: u64,
        detail: String,
    },
    /// Already done (lockfile, done_when, no change): nothing to run.
    NodeUnchanged {
        address: String,
        reason: String,
    },
    NodeFailed {
        address: String,
        error: String,
        retry_in_ms: Option<u64>,
    },
    NodeSkipped {
        address: String,
        because: String,
    },
    WaveDone {
        wave: u32,
    },
    /// SIGINT or SIGTERM: the first lets `running` finish within `grace_ms`,
    /// the second (or the end of the grace) cancels them.
    Interrupted {
        running: Vec<String>,
        second: bool,
        grace_ms: u64,
    },
    /// A gate, approval or wait abandoned by an interrupt: it had no side
    /// effects and is checked again on resume.
    NodeAbandoned {
        address: String,
    },
    /// A node cancelled part-way by an interrupt: resume treats it as a step
    /// found `started` after a crash.
    NodeInterrupted {
        address: String,
        reason: String,
    },
    /// Apply stopped early (max waves, interrupt, failure with on_failure = "stop").
    Stopped {
        reason: String,
    },
    RollbackStarted {
        nodes: usize,
    },
    NodeRolledBack {
        address: String,
        detail: String,
    },
    RollbackKept {
        address: String,
        reason: String,
    },
    /// A completed node that depended on undone work: it runs again next time.
    NodeInvalidated {
        address: String,
        because: String,
    },
    RollbackFailed {
        address: String,
        error: String,
        left: Vec<String>,
    },
    Finished {
        ok: bool,
        summary: String,
    },
    /// A person approved an approval gate (`cutover approve`).
    Approved {
        address: String,
        by: String,
        at: String,
        comment: Option<String>,
    },
    /// Apply is about to ask the operator before a point of no return: live
    /// views step aside until the answer (a `PointOfNoReturn` event).
    Asking {
        address: String,
    },
    /// Apply asked before a point of no return: `confirmed` says the answer.
    PointOfNoReturn {
        address: String,
        confirmed: bool,
    },
    /// Something the operator should know or do now (an approval gate waits).
    Notice {
        text: String,
    },
    /// A fleet target started: its nodes may run now.
    FleetTargetStarted {
        fleet: String,
        target: String,
        batch: usize,
    },
    /// A fleet target finished; `ok`: every node of it did.
    FleetTargetFinished {
        fleet: String,
        target: String,
        batch: usize,
        ok: bool,
    },
    /// Where a fleet stands, after each batch and each failed target.
    FleetProgress {
        fleet: String,
        /// 1-based; `batches + 1` once all are done.
        batch: usize,
        batches: usize,
        in_flight: usize,
        succeeded: usize,
        failed: usize,
        budget_left: usize,
        /// Set when the last failure went beyond the budget: the fleet stopped.
        stopped: bool,
        /// Until when the fleet soaks before the next batch, in ms from now.
        pause_ms: Option<u64>,
    },
}

impl Event {
    /// The node whose time in this run the event ends (done, unchanged,
    /// failed for good, skipped, abandoned or interrupted), if it ends one.
    pub fn node_ended(&self) -> Option<&str> {
        match self {
            Event::NodeDone { address, .. }
            | Event::NodeUnchanged { address, .. }
            | Event::NodeFailed {
                address,
                retry_in_ms: None,
                ..
            }
            | Event::NodeSkipped { address, .. }
            | Event::NodeAbandoned { address }
            | Event::NodeInterrupted { address, .. } => Some(address),
            _ => None,
        }
    }
}
