//! Recording a run in the history: a [`Reporter`] that stamps every event
//! and appends it to the journal (through the one redaction path, like every
//! record), so that `cutover status` sees a running migration from any
//! machine and `history`/`report` read it afterwards.
//!
//! Polls are bounded per node: a gate's (or a throttle's, or a repeating
//! step's) first poll, every change, at most `measurements` of them, and the
//! last one when the node ends.

use super::{Event, Reporter};
use crate::state::history::{self, Run, RunEnd, RunOutcome, Stamped, Summary, Who};
use crate::state::{Backend, Change, Record};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often buffered events are appended while nothing else happens.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A run being recorded. Clone it to keep a handle for [`RunLog::finish`]
/// while [`RunLog::tap`] reports through it.
#[derive(Clone)]
pub struct RunLog(Arc<Mutex<Log>>);

struct Log {
    backend: Arc<dyn Backend>,
    lineage: String,
    id: String,
    measurements: usize,
    max_events: u64,
    seq: u64,
    pending: Vec<Stamped>,
    flushed: Instant,
    polls: HashMap<(String, String), Polls>,
    summary: Summary,
    finished: bool,
}

/// What was recorded of one node's polls.
#[derive(Default)]
struct Polls {
    kept: usize,
    last_kept: Option<serde_json::Value>,
    /// The newest poll, when it was not kept: kept when the node ends.
    unkept: Option<Stamped>,
}

/// How a run's recording begins.
pub struct RunStart<'a> {
    pub command: &'a str,
    pub lineage: &'a str,
    pub plan: Option<String>,
    pub runs: usize,
    pub measurements: usize,
    /// Events kept for the run; beyond, they are counted.
    pub events: usize,
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl RunLog {
    /// Opens a run: its start is durable when this returns.
    pub fn start(
        backend: Arc<dyn Backend>,
        start: RunStart,
    ) -> Result<RunLog, crate::state::StateError> {
        let t = now();
        let holder = crate::state::LockInfo::current(start.command);
        let run = Run {
            id: history::new_id(t),
            command: start.command.to_string(),
            by: Who {
                user: holder.who,
                host: holder.host,
                ci: ci_job(),
            },
            started_at: stamp(t),
            finished_at: None,
            plan: start.plan,
            outcome: None,
            message: None,
            summary: Summary::default(),
            compacted: false,
            keep: start.runs,
            events: Vec::new(),
        };
        let id = run.id.clone();
        backend.append(&[Record {
            lineage: start.lineage.to_string(),
            change: Change::RunStarted { run: Box::new(run) },
        }])?;
        let log = RunLog(Arc::new(Mutex::new(Log {
            backend,
            lineage: start.lineage.to_string(),
            id,
            measurements: start.measurements.max(2),
            max_events: start.events as u64,
            seq: 0,
            pending: Vec::new(),
            flushed: Instant::now(),
            polls: HashMap::new(),
            summary: Summary::default(),
            finished: false,
        })));
        log.flush_while_open();
        Ok(log)
    }

    /// Appends what is buffered once a second, so that `status` sees a node
    /// that started and has reported nothing since (a long step, a wait).
    fn flush_while_open(&self) {
        let weak = Arc::downgrade(&self.0);
        std::thread::spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            let Some(log) = weak.upgrade() else { return };
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            if log.finished {
                return;
            }
            if log.flushed.elapsed() >= FLUSH_EVERY {
                log.flush();
            }
        });
    }

    /// The run's id.
    pub fn id(&self) -> String {
        self.lock().id.clone()
    }

    /// A reporter that records every event, then passes it on to `inner`.
    pub fn tap(&self, inner: Box<dyn Reporter>) -> Box<dyn Reporter> {
        Box::new(Tap {
            log: self.clone(),
            inner,
        })
    }

    /// Closes the run: its end is durable when this returns.
    pub fn finish(
        &self,
        outcome: RunOutcome,
        message: Option<String>,
    ) -> Result<(), crate::state::StateError> {
        let mut log = self.lock();
        if log.finished {
            return Ok(());
        }
        log.finished = true;
        let end = RunEnd {
            finished_at: stamp(now()),
            outcome,
            message,
            summary: log.summary.clone(),
        };
        let mut records = log.take_pending();
        records.push(Record {
            lineage: log.lineage.clone(),
            change: Change::RunFinished {
                run: log.id.clone(),
                end,
            },
        });
        log.backend.append(&records)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Tap {
    log: RunLog,
    inner: Box<dyn Reporter>,
}

impl Reporter for Tap {
    fn report(&mut self, event: &Event) {
        self.log.lock().record(event);
        self.inner.report(event);
    }
}

impl Log {
    fn record(&mut self, event: &Event) {
        // The run's last line is its message; nothing is appended after its end.
        if self.finished || matches!(event, Event::Finished { .. }) {
            return;
        }
        self.count(event);
        // Beyond the run's limit events are only counted: not even serialized.
        if self.seq >= self.max_events {
            self.summary.dropped_events += 1;
            return;
        }
        let Ok(value) = serde_json::to_value(event) else {
            return;
        };
        let at = stamp(now());
        match poll_key(event) {
            Some(key) => self.poll(key, at, value),
            None => {
                if let Some(a) = ends(event) {
                    self.keep_last_polls(a);
                }
                self.push(at, value);
            }
        }
        if self.flushed.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let records = self.take_pending();
        // History is not worth stopping a migration for: a failed append
        // leaves these events out; the state's own writes report errors.
        if !records.is_empty() {
            let _ = self.backend.append(&records);
        }
    }

    fn push(&mut self, at: String, event: serde_json::Value) {
        if self.seq >= self.max_events {
            self.summary.dropped_events += 1;
            return;
        }
        self.seq += 1;
        let mut event = event;
        if let Some(m) = event.as_object_mut() {
            m.insert("seq".into(), self.seq.into());
        }
        self.pending.push(Stamped {
            at,
            event: event.into(),
        });
    }

    /// A poll: kept if it is the first, or differs from the last kept one, within the bound.
    fn poll(&mut self, key: (String, String), at: String, value: serde_json::Value) {
        let limit = self.measurements;
        let p = self.polls.entry(key).or_default();
        let what = significant(&value);
        if p.kept < limit - 1 && p.last_kept.as_ref() != Some(&what) {
            p.kept += 1;
            p.last_kept = Some(what);
            p.unkept = None;
            self.push(at, value);
        } else {
            p.unkept = Some(Stamped {
                at,
                event: value.into(),
            });
        }
    }

    fn keep_last_polls(&mut self, address: &str) {
        let last: Vec<Stamped> = self
            .polls
            .iter_mut()
            .filter(|((a, _), _)| a == address)
            .filter_map(|(_, p)| p.unkept.take())
            .collect();
        for s in last {
            self.push(s.at, s.event.value());
        }
    }

    fn count(&mut self, event: &Event) {
        let s = &mut self.summary;
        match event {
            Event::NodeDone {
                address,
                elapsed_ms,
                ..
            } => {
                s.done += 1;
                s.durations_ms.insert(address.clone(), *elapsed_ms);
            }
            Event::NodeFailed {
                retry_in_ms: None, ..
            } => s.failed += 1,
            Event::NodeRolledBack { .. } => s.rolled_back += 1,
            Event::NodeUnchanged { .. } => s.unchanged += 1,
            Event::NodeSkipped { .. } => s.skipped += 1,
            _ => {}
        }
    }

    fn take_pending(&mut self) -> Vec<Record> {
        self.flushed = Instant::now();
        if self.pending.is_empty() {
            return Vec::new();
        }
        vec![Record {
            lineage: self.lineage.clone(),
            change: Change::RunEvents {
                run: self.id.clone(),
                events: std::mem::take(&mut self.pending),
            },
        }]
    }
}

/// Polls are bounded per node and kind; every other event is kept.
fn poll_key(event: &Event) -> Option<(String, String)> {
    match event {
        Event::GatePolled { address, .. } => Some((address.clone(), "gate".into())),
        Event::StepProgress { address, .. } => Some((address.clone(), "progress".into())),
        Event::StepThrottled {
            address, throttle, ..
        } => Some((address.clone(), format!("throttle {throttle}"))),
        _ => None,
    }
}

/// What of a poll counts as a change: whether it holds and what it measured.
fn significant(v: &serde_json::Value) -> serde_json::Value {
    serde_json::json!([v.get("holds"), v.get("measured"), v.get("remaining")])
}

/// The node whose run, or one attempt of it, this event ends: its last poll is kept.
fn ends(event: &Event) -> Option<&str> {
    match event {
        Event::NodeFailed { address, .. } => Some(address),
        e => e.node_ended(),
    }
}

/// The CI job this runs in, from the variables the usual CI systems set.
fn ci_job() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(id)) = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repo}/actions/runs/{id}"));
    }
    var("CI_JOB_URL")
        .or_else(|| var("BUILDKITE_BUILD_URL"))
        .or_else(|| var("CIRCLE_BUILD_URL"))
        .or_else(|| var("BUILD_URL"))
        .or_else(|| var("CI").map(|_| "CI (no job URL in the environment)".to_string()))
}
