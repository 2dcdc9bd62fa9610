//! Run history: every apply and rollback, kept in the state document so that
//! every backend keeps it through the same traits.
//!
//! A run is opened by a [`Change::RunStarted`](super::Change) record, grows by
//! `RunEvents` records while it goes (read live by `cutover status`) and is
//! closed by `RunFinished`. Its events are opaque JSON here: `apply` writes
//! them and `render` reads them; the state only keeps them in order, stamps
//! and bounds them. Beyond `keep` runs (or a size budget), the oldest runs are
//! compacted: their summary stays, their events go.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many runs keep their events by default.
pub const DEFAULT_RUNS: usize = 20;
/// How many measurements of one gate a run keeps by default.
pub const DEFAULT_MEASUREMENTS: usize = 50;
/// How many events one run keeps by default; the rest are counted.
pub const DEFAULT_EVENTS: usize = 20_000;
/// The serialized events of all runs kept in full stay under this; older
/// runs are compacted first (a Kubernetes Secret holds at most 1 MiB).
pub const EVENTS_BUDGET: usize = 512 * 1024;

/// Who started a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Who {
    pub user: String,
    pub host: String,
    /// The CI job, from the usual CI variables, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every planned node is done (or, for a rollback, undone).
    Succeeded,
    /// Stopped early on purpose (max waves, a declined confirmation).
    Stopped,
    /// SIGINT or SIGTERM.
    Interrupted,
    /// Fleet targets failed within their error budget.
    TargetsFailed,
    /// A node failed; what completed was rolled back.
    RolledBack,
    /// A node failed (or the rollback did); nothing or not all was undone.
    Failed,
    /// cutover itself stopped with an error (the state could not be written, …).
    Error,
    /// The process ended without recording how (killed, or its machine
    /// stopped): found when the next run began.
    Vanished,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Stopped => "stopped",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::TargetsFailed => "targets failed",
            RunOutcome::RolledBack => "rolled back",
            RunOutcome::Failed => "failed",
            RunOutcome::Error => "error",
            RunOutcome::Vanished => "ended unrecorded",
        }
    }
}

/// Counts of what a run did, kept when its events are compacted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub done: usize,
    pub failed: usize,
    pub rolled_back: usize,
    pub unchanged: usize,
    pub skipped: usize,
    /// How long each node took to finish, in ms: the plan's recorded
    /// durations (dropped with the events when the run is compacted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub durations_ms: BTreeMap<String, u64>,
    /// Events beyond the run's limit (`history { events }`), counted, not kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_events: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One event of a run, with when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    /// RFC 3339 with milliseconds, UTC.
    pub at: String,
    /// The event as JSON: opaque here (see the module's note).
    pub event: super::JsonText,
}

/// One apply or rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Sortable and unique: `20261202-231816-ab12`.
    pub id: String,
    /// "apply" or "rollback".
    pub command: String,
    pub by: Who,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The fingerprint of the plan it carried out (apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// `None` while the run goes on (or when it died without a word).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    /// The last line the run printed ("Apply failed at …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub summary: Summary,
    /// Set once the events were dropped to bound the history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compacted: bool,
    /// How many runs keep their events (from the spec, when this run started).
    #[serde(default = "default_runs")]
    pub keep: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Stamped>,
}

fn default_runs() -> usize {
    DEFAULT_RUNS
}

impl Run {
    /// Still going, as far as the history knows.
    pub fn is_open(&self) -> bool {
        self.finished_at.is_none()
    }
}

/// Adds a new run to the history, compacting old ones.
pub fn open(history: &mut Vec<Run>, run: Run) {
    // A reader may see a record twice while the journal is being folded.
    if history.iter().any(|r| r.id == run.id) {
        return;
    }
    // One run at a time holds the lock: one still open now ended unrecorded.
    for r in history.iter_mut().filter(|r| r.is_open()) {
        let last = r.events.last().map_or(&r.started_at, |e| &e.at);
        r.finished_at = Some(last.clone());
        r.outcome = Some(RunOutcome::Vanished);
    }
    history.push(run);
    compact(history);
}

/// Appends events to the run `id` (ignored if the run is unknown: its start was compacted away).
pub fn extend(history: &mut [Run], id: &str, events: Vec<Stamped>) {
    #[derive(Deserialize)]
    struct Seq {
        seq: Option<u64>,
    }
    let seq = |e: &Stamped| e.event.read::<Seq>().ok().and_then(|s| s.seq);
    if let Some(r) = history.iter_mut().rev().find(|r| r.id == id) {
        // Events carry a sequence number: seen twice, they are kept once.
        let last = r.events.last().and_then(seq).unwrap_or(0);
        r.events.extend(
            events
                .into_iter()
                .filter(|e| seq(e).is_none_or(|s| s > last)),
        );
    }
}

/// Closes the run `id`.
pub fn close(history: &mut [Run], id: &str, end: &RunEnd) {
    if let Some(r) = history.iter_mut().rev().find(|r| r.id == id) {
        r.finished_at = Some(end.finished_at.clone());
        r.outcome = Some(end.outcome);
        r.message = end.message.clone();
        r.summary = end.summary.clone();
    }
    compact(history);
}

/// What a `RunFinished` record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    pub finished_at: String,
    pub outcome: RunOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub summary: Summary,
}

/// Drops the events of the oldest finished runs beyond the newest run's
/// `keep`, and beyond [`EVENTS_BUDGET`] bytes of events. The newest run
/// keeps its events whatever their size (bounded per gate by apply).
fn compact(history: &mut [Run]) {
    let keep = history.last().map_or(DEFAULT_RUNS, |r| r.keep.max(1));
    let n = history.len();
    let size = |r: &Run| {
        r.events
            .iter()
            .map(|e| e.event.as_str().len() + 40)
            .sum::<usize>()
    };
    let mut total: usize = history.iter().map(size).sum();
    for (i, r) in history.iter_mut().enumerate() {
        if i + 1 == n || r.is_open() || r.events.is_empty() {
            continue;
        }
        if i + keep < n || total > EVENTS_BUDGET {
            total -= size(r);
            r.events = Vec::new();
            r.summary.durations_ms = BTreeMap::new();
            r.compacted = true;
        }
    }
}

/// A new run id: the UTC time to the second and four random hex digits.
pub fn new_id(now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}-{}",
        now.format("%Y%m%d-%H%M%S"),
        super::lock::random_hex(2)
    )
}

/// The run a user named: its id or a unique prefix of it; `None`: the newest.
pub fn find<'a>(history: &'a [Run], wanted: Option<&str>) -> Result<&'a Run, String> {
    let Some(w) = wanted else {
        return history.last().ok_or_else(|| {
            "no run is recorded yet: the history starts with the next apply or rollback".to_string()
        });
    };
    let found: Vec<&Run> = history.iter().filter(|r| r.id.starts_with(w)).collect();
    match found.as_slice() {
        [r] => Ok(r),
        [] => Err(format!(
            "no run {w}; `cutover history` lists the {} recorded",
            history.len()
        )),
        many => Err(format!(
            "{w} names {} runs ({}); give more of the id",
            many.len(),
            many.iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The duration each node took the last time it ran to completion, newest run first.
pub fn recorded_durations(history: &[Run]) -> BTreeMap<&str, u64> {
    let mut out = BTreeMap::new();
    for r in history.iter().rev() {
        for (a, ms) in &r.summary.durations_ms {
            out.entry(a.as_str()).or_insert(*ms);
        }
    }
    out
}
