//! `repeat {}`: a step that runs in batches until it is done.
//!
//! Before each iteration `until` is checked (a query or a command, as
//! `done_when`); each iteration is one run of the step (for `sql`, its own
//! transaction). After each one the worker reports progress — iterations,
//! rows, `remaining` when given, rates and an ETA — and the coordinator
//! journals the counts, so that a resumed loop carries them on; `until`
//! alone decides where it resumes. An iteration that changes no rows while
//! `until` does not hold fails the step rather than loop for ever;
//! `until_rows_affected` lets an iteration's own count end the loop;
//! `max_iterations` is the safety net. Before each iteration every
//! `throttle "GATE_TYPE" {}` must hold — a gate that pauses the loop instead
//! of failing it (replica lag, active connections) — for at most its
//! `max_wait`. After an interrupt the loop stops between iterations.

use super::execute::{Job, Msg};
use crate::eval::duration;
use crate::providers::Attrs;
use crate::state::lockfile::Progress;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The evaluated `repeat {}` block.
struct Repeat {
    until: Option<Value>,
    until_rows_affected: Option<u64>,
    remaining: Option<Value>,
    pause: Duration,
    max_iterations: Option<u64>,
}

impl Repeat {
    fn of(attrs: &Attrs) -> Result<Repeat, String> {
        let r = attrs.get("repeat").and_then(Value::as_object);
        let get = |k: &str| r.and_then(|m| m.get(k)).filter(|v| !v.is_null()).cloned();
        let repeat = Repeat {
            until: get("until"),
            until_rows_affected: get("until_rows_affected").and_then(|v| v.as_u64()),
            remaining: get("remaining"),
            pause: match get("pause").as_ref().and_then(Value::as_str) {
                Some(p) => duration::parse(p)?,
                None => Duration::ZERO,
            },
            max_iterations: get("max_iterations").and_then(|v| v.as_u64()),
        };
        if repeat.until.is_none() && repeat.until_rows_affected.is_none() {
            return Err("a repeat block needs `until` or `until_rows_affected`: something must end the loop".into());
        }
        Ok(repeat)
    }
}

/// How a loop ended.
pub enum LoopEnd {
    Done(Attrs, String),
    /// Stopped between iterations by an interrupt: resumes where it stopped.
    Stopped,
}

/// Runs the step's iterations until `until` holds.
pub async fn run(job: &Job, tx: &mpsc::UnboundedSender<Msg>) -> Result<LoopEnd, String> {
    let repeat = Repeat::of(&job.attrs)?;
    let mut attrs = job.attrs.clone();
    attrs.remove("repeat");
    // Each iteration is complete in itself: no run record, no supervisor.
    attrs.remove(crate::providers::RUN_ID);
    let Progress {
        mut iterations,
        mut rows,
    } = job.progress.clone().unwrap_or_default();
    let (start, first) = (Instant::now(), iterations);
    let rows_before = rows;
    loop {
        if until_holds(job, &attrs, &repeat).await? {
            return Ok(LoopEnd::Done(
                outputs(iterations, rows, start),
                summary(iterations, rows),
            ));
        }
        if job.stop.load(Ordering::SeqCst) {
            return Ok(LoopEnd::Stopped);
        }
        if !wait_for_throttles(job, tx).await? {
            return Ok(LoopEnd::Stopped);
        }
        if let Some(max) = repeat.max_iterations.filter(|m| iterations >= *m) {
            return Err(format!(
                "did not finish within max_iterations = {max} ({}); raise it, or look at why `until` never holds",
                summary(iterations, rows)
            ));
        }
        let out = super::execute::with_retries(job, tx, || async {
            job.provider
                .run_step(&job.type_name, &attrs)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("iteration {}: {e}", iterations + 1))?;
        let affected = out.get("rows_affected").and_then(Value::as_u64);
        iterations += 1;
        rows += affected.unwrap_or(0);
        let remaining = match &repeat.remaining {
            Some(probe) => job
                .provider
                .measure(&job.type_name, &attrs, probe)
                .await
                .ok(),
            None => None,
        };
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        let rows_per_s = (rows - rows_before) as f64 / secs;
        let _ = tx.send(Msg::Progress {
            id: job.id,
            progress: Progress { iterations, rows },
            affected,
            remaining,
            rows_per_s,
            iterations_per_s: (iterations - first) as f64 / secs,
            eta: remaining
                .filter(|_| rows_per_s > 0.0)
                .map(|r| Duration::from_secs_f64(r / rows_per_s)),
        });
        if affected.is_some() && affected == repeat.until_rows_affected {
            return Ok(LoopEnd::Done(
                outputs(iterations, rows, start),
                summary(iterations, rows),
            ));
        }
        if affected == Some(0) && !until_holds(job, &attrs, &repeat).await? {
            return Err(format!(
                "iteration {iterations} changed no rows, but `until` does not hold: the loop would never end. Check that the statement selects the rows `until` counts"
            ));
        }
        tokio::time::sleep(repeat.pause).await;
    }
}

/// Waits until every throttle holds; `false` when an interrupt stopped the wait.
async fn wait_for_throttles(job: &Job, tx: &mpsc::UnboundedSender<Msg>) -> Result<bool, String> {
    for t in &job.throttles {
        let since = Instant::now();
        loop {
            let c = t
                .provider
                .check(&t.type_name, &t.attrs)
                .await
                .map_err(|e| format!("checking its throttle \"{}\": {e}", t.type_name))?;
            if c.holds {
                break;
            }
            let waited = since.elapsed();
            if waited >= t.max_wait {
                return Err(format!(
                    "its throttle \"{}\" did not hold within max_wait = {}; last measured: {}",
                    t.type_name,
                    duration::format(t.max_wait),
                    c.measured
                ));
            }
            let _ = tx.send(Msg::Throttled {
                id: job.id,
                throttle: t.type_name.clone(),
                measured: c.measured,
                waited,
                max_wait: t.max_wait,
            });
            if job.stop.load(Ordering::SeqCst) {
                return Ok(false);
            }
            tokio::time::sleep(t.interval).await;
        }
    }
    Ok(true)
}

async fn until_holds(job: &Job, attrs: &Attrs, repeat: &Repeat) -> Result<bool, String> {
    let Some(until) = &repeat.until else {
        return Ok(false);
    };
    job.provider
        .step_done(&job.type_name, attrs, until)
        .await
        .map(|c| c.holds)
        .map_err(|e| format!("checking `until`: {e}"))
}

fn summary(iterations: u64, rows: u64) -> String {
    format!(
        "{iterations} iteration{}, {rows} row{}",
        if iterations == 1 { "" } else { "s" },
        if rows == 1 { "" } else { "s" }
    )
}

fn outputs(iterations: u64, rows: u64, start: Instant) -> Attrs {
    let mut out = Attrs::new();
    out.insert("iterations".into(), Value::from(iterations));
    out.insert("rows_affected".into(), Value::from(rows));
    out.insert(
        "elapsed_ms".into(),
        Value::from(start.elapsed().as_millis() as u64),
    );
    out
}
