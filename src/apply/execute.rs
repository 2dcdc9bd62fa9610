//! The work of one node, run in its own task: a step with its timeout and
//! retries, a resource change (its prior state journaled first), a gate
//! polled until it holds, a data source read. Workers report to the
//! coordinator through messages; they never print and never touch the state.

use crate::eval::duration;
use crate::providers::{Attrs, Provider};
use crate::spec::ast::NodeKind;
use crate::spec::NodeId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub(crate) use crate::plan::evaluate::Retry;

/// How a gate is polled.
#[derive(Debug, Clone, Copy)]
pub struct GateTiming {
    pub interval: Duration,
    pub hold: Duration,
    pub timeout: Duration,
    /// Fail at once after this many measurements in a row that do not hold.
    pub failure_limit: Option<u64>,
}

pub const DEFAULT_GATE_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Everything a worker needs; evaluated by the coordinator.
pub struct Job {
    pub id: NodeId,
    /// The name of the sessions the node opens (`cutover:<migration>:<address>`).
    pub session: String,
    pub kind: NodeKind,
    pub type_name: String,
    pub provider: Arc<dyn Provider>,
    pub attrs: Attrs,
    pub identity: Attrs,
    /// A resource's desired attributes.
    pub desired: Option<Attrs>,
    /// The object's state before the migration is not recorded yet: read and report it first.
    pub need_prior: bool,
    pub timeout: Option<Duration>,
    pub retry: Retry,
    pub gate: Option<GateTiming>,
    /// A repeating step's progress so far (when its loop resumes).
    pub progress: Option<crate::state::lockfile::Progress>,
    /// Set by an interrupt: a repeating step stops between iterations.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// A repeating step's throttles: gates that pause its loop while they do not hold.
    pub throttles: Vec<Throttle>,
}

/// A `throttle "GATE_TYPE" {}` of a `repeat {}`: checked before each iteration.
pub struct Throttle {
    pub type_name: String,
    pub provider: Arc<dyn Provider>,
    pub attrs: Attrs,
    /// How often it is checked again while it does not hold.
    pub interval: Duration,
    /// How long the loop may wait for it before the step fails.
    pub max_wait: Duration,
}

/// What a worker reports.
pub enum Msg {
    Poll {
        id: NodeId,
        holds: bool,
        measured: String,
        value: Option<f64>,
        limits: Vec<crate::providers::Limit>,
        held: Duration,
        hold: Duration,
        remaining: Duration,
    },
    /// The object's state before the change; the worker waits for `ack` (journaled) before changing it.
    Prior {
        id: NodeId,
        prior: Option<Attrs>,
        ack: oneshot::Sender<()>,
    },
    Retrying {
        id: NodeId,
        attempt: u32,
        error: String,
        wait: Duration,
    },
    Finished {
        id: NodeId,
        result: Result<Finished, String>,
    },
    /// A repeating step finished an iteration.
    Progress {
        id: NodeId,
        progress: crate::state::lockfile::Progress,
        /// Rows the iteration changed (sql).
        affected: Option<u64>,
        remaining: Option<f64>,
        rows_per_s: f64,
        iterations_per_s: f64,
        eta: Option<Duration>,
    },
    /// A repeating step stopped between iterations (an interrupt).
    Stopped { id: NodeId },
    /// A repeating step's throttle does not hold: the loop waits.
    Throttled {
        id: NodeId,
        throttle: String,
        measured: String,
        waited: Duration,
        max_wait: Duration,
    },
    /// An approval gate's poll: has someone approved it during this apply?
    Approval {
        id: NodeId,
        reply: oneshot::Sender<Result<Option<super::approval::Approval>, String>>,
    },
}

/// A node's result.
#[derive(Debug, Default)]
pub struct Finished {
    /// Step outputs, data source values.
    pub outputs: Attrs,
    /// A resource's object after the change (`Some(None)`: removed).
    pub applied: Option<Option<Attrs>>,
    pub detail: String,
}

pub async fn run(job: Job, tx: mpsc::UnboundedSender<Msg>) {
    let id = job.id;
    let session = job.session.clone();
    let work = async {
        match job.kind {
            NodeKind::Gate => poll_gate(&job, &tx).await.map(Some),
            NodeKind::Resource => change_resource(&job, &tx).await.map(Some),
            NodeKind::Step if job.attrs.contains_key("repeat") => {
                super::repeat::run(&job, &tx).await.map(|end| match end {
                    super::repeat::LoopEnd::Done(outputs, detail) => Some(Finished {
                        outputs,
                        applied: None,
                        detail,
                    }),
                    super::repeat::LoopEnd::Stopped => None,
                })
            }
            NodeKind::Step | NodeKind::Data => {
                with_retries(&job, &tx, || once(&job)).await.map(Some)
            }
        }
    };
    let result = crate::providers::SESSION_NAME.scope(session, work).await;
    let _ = tx.send(match result {
        Ok(None) => Msg::Stopped { id },
        Ok(Some(f)) => Msg::Finished { id, result: Ok(f) },
        Err(e) => Msg::Finished { id, result: Err(e) },
    });
}

async fn once(job: &Job) -> Result<Finished, String> {
    match job.kind {
        NodeKind::Step => {
            let outputs = job
                .provider
                .run_step(&job.type_name, &job.attrs)
                .await
                .map_err(|e| e.to_string())?;
            let detail = outputs
                .get("exit_code")
                .map(|c| format!("exit {c}"))
                .or_else(|| outputs.get("status").map(|s| format!("HTTP {s}")))
                .unwrap_or_default();
            Ok(Finished {
                outputs,
                applied: None,
                detail,
            })
        }
        NodeKind::Data => {
            let read = job
                .provider
                .read(NodeKind::Data, &job.type_name, &job.attrs)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Finished {
                outputs: read.unwrap_or_default(),
                applied: None,
                detail: "read".into(),
            })
        }
        NodeKind::Resource => {
            let applied = job
                .provider
                .apply(&job.type_name, job.desired.as_ref(), &job.identity)
                .await
                .map_err(|e| e.to_string())?;
            let detail = if applied.is_some() {
                "applied"
            } else {
                "removed"
            }
            .to_string();
            Ok(Finished {
                outputs: Attrs::new(),
                applied: Some(applied),
                detail,
            })
        }
        NodeKind::Gate => Err("a gate is polled, not run once".into()),
    }
}

/// Runs `attempt` up to `retry.attempts` times, each bounded by the node's timeout.
pub(super) async fn with_retries<F, Fut, T>(
    job: &Job,
    tx: &mpsc::UnboundedSender<Msg>,
    attempt: F,
) -> Result<T, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut wait = job.retry.backoff;
    for n in 1..=job.retry.attempts.max(1) {
        let result = match job.timeout {
            Some(t) => match tokio::time::timeout(t, attempt()).await {
                Ok(r) => r,
                Err(_) => Err(format!("timed out after {}", duration::format(t))),
            },
            None => attempt().await,
        };
        match result {
            Ok(f) => return Ok(f),
            Err(e) if n < job.retry.attempts => {
                let _ = tx.send(Msg::Retrying {
                    id: job.id,
                    attempt: n,
                    error: e,
                    wait,
                });
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            Err(e) => {
                return Err(if job.retry.attempts > 1 {
                    format!("{e} (after {} attempts)", job.retry.attempts)
                } else {
                    e
                });
            }
        }
    }
    Err("no attempt was made".into())
}

async fn change_resource(job: &Job, tx: &mpsc::UnboundedSender<Msg>) -> Result<Finished, String> {
    if job.need_prior {
        // Read with the desired attributes, so that the prior state covers every
        // field this block manages (the keys of a map, the containers of a Deployment).
        let prior = job
            .provider
            .read(
                NodeKind::Resource,
                &job.type_name,
                job.desired.as_ref().unwrap_or(&job.identity),
            )
            .await
            .map_err(|e| format!("reading the object before changing it: {e}"))?;
        let (ack, acked) = oneshot::channel();
        let _ = tx.send(Msg::Prior {
            id: job.id,
            prior,
            ack,
        });
        acked
            .await
            .map_err(|_| "the prior state could not be recorded".to_string())?;
    }
    with_retries(job, tx, || once(job)).await
}

async fn poll_gate(job: &Job, tx: &mpsc::UnboundedSender<Msg>) -> Result<Finished, String> {
    let timing = job.gate.unwrap_or(GateTiming {
        interval: DEFAULT_GATE_INTERVAL,
        hold: Duration::ZERO,
        timeout: DEFAULT_GATE_TIMEOUT,
        failure_limit: None,
    });
    let start = Instant::now();
    let deadline = start + timing.timeout;
    let mut held_since: Option<Instant> = None;
    let mut last = String::new();
    let mut misses = 0u64;
    loop {
        let now = Instant::now();
        let remaining = deadline.saturating_duration_since(now);
        let outcome = match tokio::time::timeout(
            remaining.max(Duration::from_millis(1)),
            job.provider.check(&job.type_name, &job.attrs),
        )
        .await
        {
            Ok(r) => r.map_err(|e| e.to_string())?,
            Err(_) => {
                return Err(format!(
                    "did not hold within {}; last measured: {last}",
                    duration::format(timing.timeout)
                ))
            }
        };
        let now = Instant::now();
        if outcome.holds {
            held_since.get_or_insert(now);
            misses = 0;
        } else {
            held_since = None;
            misses += 1;
        }
        let held = held_since.map(|s| now - s).unwrap_or_default();
        last = outcome.measured.clone();
        let _ = tx.send(Msg::Poll {
            id: job.id,
            holds: outcome.holds,
            measured: outcome.measured,
            value: outcome.value,
            limits: outcome.limits,
            held,
            hold: timing.hold,
            remaining: deadline.saturating_duration_since(now),
        });
        if outcome.holds && held >= timing.hold {
            let detail = if timing.hold.is_zero() {
                format!("held: {last}")
            } else {
                format!("held for {}: {last}", duration::format(held))
            };
            return Ok(Finished {
                outputs: Attrs::new(),
                applied: None,
                detail,
            });
        }
        if let Some(limit) = timing.failure_limit.filter(|l| misses >= *l) {
            return Err(format!(
                "did not hold in {limit} measurement{} in a row (failure_limit); last measured: {last}",
                if limit == 1 { "" } else { "s" }
            ));
        }
        if now >= deadline {
            return Err(format!(
                "did not hold within {}; last measured: {last}",
                duration::format(timing.timeout)
            ));
        }
        let mut sleep = timing.interval;
        if let Some(s) = held_since {
            // Wake exactly when the bake time is reached.
            sleep = sleep.min((s + timing.hold).saturating_duration_since(now));
        }
        tokio::time::sleep(sleep.min(deadline.saturating_duration_since(now))).await;
    }
}
