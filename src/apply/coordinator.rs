//! The coordinator: the one loop that starts nodes, journals transitions,
//! releases dependents and decides when to stop. See the module docs of
//! [`crate::apply`] for the design.

use super::context::{identity_of, now, object_key};
use super::execute::{self, GateTiming, Job, Msg};
use super::fleets::Fleets;
use super::recorder::Recorder;
use super::undo;
use super::{ApplyError, Confirm, Context, Event, Reporter};
use crate::eval::{duration, to_json, Evaluator};
use crate::graph::ReadySet;
use crate::plan::evaluate::{
    evaluate_node, known_attrs, node_digest, planned_entries, root_outputs, NodeEval, Values,
};
use crate::plan::{Action, Planned, PlannedValue};
use crate::providers::Attrs;
use crate::spec::ast::NodeKind;
use crate::spec::{Diagnostics, NodeId, OnFailure};
use crate::state::{JsonText, Lockfile, NodeState, NodeStatus, Record, StateError};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How many nodes run at once.
    pub parallelism: usize,
    /// Start wave N+1 only when every node of wave N has finished.
    pub strict_waves: bool,
    /// Stop after this wave.
    pub max_waves: Option<u32>,
    /// After an interrupt, how long running steps and resource changes may
    /// finish before they are cancelled.
    pub stop_timeout: Duration,
}

/// How an apply ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every planned node is done.
    Complete,
    /// Stopped early on purpose (max waves, a declined confirmation); resume with apply.
    Partial { reason: String },
    /// Stopped by SIGINT or SIGTERM; resume with apply.
    Interrupted { reason: String },
    /// Every node ran except those of fleet targets that failed within their
    /// error budget (each rolled back alone with `on_failure = "rollback"`).
    TargetsFailed { targets: Vec<String> },
    /// A node failed; with `on_failure = "rollback"`, what the rollback did.
    Failed {
        failed: Vec<String>,
        rollback: Option<undo::Report>,
    },
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// The throttles of a repeating step's `repeat {}`, with their gate providers.
fn throttles_of(cx: &Context, ne: &NodeEval) -> Vec<execute::Throttle> {
    let Some(list) = ne
        .value("repeat")
        .and_then(|r| r.as_object())
        .and_then(|r| r.get("throttle"))
        .and_then(|t| t.as_array())
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|t| {
            let mut attrs: Attrs = serde_json::from_value(to_json(t)).ok()?;
            let type_name = attrs.remove("type")?.as_str()?.to_string();
            let mut every = |k: &str, default: Duration| {
                attrs
                    .remove(k)
                    .and_then(|v| v.as_str().and_then(|s| duration::parse(s).ok()))
                    .unwrap_or(default)
            };
            let interval = every("interval", Duration::from_secs(1));
            let max_wait = every("max_wait", execute::DEFAULT_GATE_TIMEOUT);
            let provider = cx.registry.provider(NodeKind::Gate, &type_name)?.clone();
            Some(execute::Throttle {
                type_name,
                provider,
                attrs,
                interval,
                max_wait,
            })
        })
        .collect()
}

struct Walk<'a, 'c> {
    cx: &'a Context<'c>,
    planned: &'a Planned,
    ev: Evaluator<'c>,
    evals: Vec<Option<Box<NodeEval>>>,
    /// The lockfile document and the journal records on their way to disk.
    rec: Recorder,
    action: Vec<Option<Action>>,
    ready: ReadySet,
    left_in_wave: Vec<usize>,
    /// Waves where a node did more than being skipped.
    wave_ran: Vec<bool>,
    running: HashMap<NodeId, (tokio::task::AbortHandle, Instant)>,
    priors: HashMap<String, serde_json::Value>,
    failed: Vec<NodeId>,
    stop: Option<String>,
    interrupt: Interrupt,
    /// When this apply started: approvals given before do not count.
    started: chrono::DateTime<chrono::Utc>,
    /// What resume learned about steps the last apply left running.
    resume: super::resume::Resume,
    fleets: Fleets,
    /// Fleet targets that failed within their budget, to roll back alone.
    target_rollbacks: Vec<(crate::spec::FleetId, usize)>,
}

/// What an interrupt changed.
#[derive(Default)]
struct Interrupt {
    happened: bool,
    /// After an interrupt: when the running steps are cancelled.
    grace_until: Option<tokio::time::Instant>,
    /// Set by the first interrupt: repeating steps stop between iterations.
    stop_loops: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Applies `planned`: see the module docs for the rules.
pub async fn apply(
    cx: &Context<'_>,
    planned: &Planned,
    doc: Option<Lockfile>,
    opts: &ApplyOptions,
    reporter: &mut dyn Reporter,
    confirm: &mut dyn Confirm,
) -> Result<Outcome, ApplyError> {
    let spec = cx.spec;
    let n = spec.nodes.len();
    let lineage = doc
        .as_ref()
        .map(|d| d.lineage.clone())
        .unwrap_or_else(|| planned.lineage.clone());
    let doc = doc.unwrap_or_else(|| Lockfile::new(&spec.settings.name, &lineage));
    let mut action = vec![None; n];
    for (i, pn) in planned.plan.nodes.iter().enumerate() {
        if let Some(Some(id)) = planned.ids.get(i) {
            action[*id] = Some(pn.action);
        }
    }
    // Resume: a step left `started` runs again only if that is safe.
    let resume = super::resume::settle(cx, planned, &doc, &mut action, reporter).await?;
    let mut left_in_wave = vec![0usize; cx.graph.wave_count() as usize + 2];
    for id in (0..n).filter(|&id| planned.included[id]) {
        left_in_wave[cx.graph.wave(id) as usize] += 1;
    }
    // The state each object had before the migration first changed it, kept
    // across resumes. A rolled-back node's is stale: the object was put back,
    // and may have changed since; it is read again before the next change.
    let priors = doc
        .nodes
        .values()
        .filter(|s| s.status != NodeStatus::RolledBack)
        .filter_map(|s| {
            let identity = s.identity.as_ref().and_then(JsonText::object);
            let (Some(t), Some(identity), Some(p)) = (&s.type_name, identity, &s.prior) else {
                return None;
            };
            Some((object_key(cx, t, &identity), p.value()))
        })
        .collect();
    // Durations the plan knows (declared, a wait's, a gate's bake time, recorded) order the ready queue.
    let mut durations = vec![Duration::ZERO; n];
    for (i, pn) in planned.plan.nodes.iter().enumerate() {
        if let (Some(Some(id)), Some(ms)) = (planned.ids.get(i), pn.expected_duration_ms) {
            durations[*id] = Duration::from_millis(ms);
        }
    }
    let (fleets, groups, group_count) = Fleets::new(cx, &planned.included, &action);
    let mut w = Walk {
        cx,
        planned,
        ev: Evaluator::new(spec),
        evals: vec![None; n],
        rec: Recorder::new(doc, lineage),
        action,
        ready: ReadySet::with_durations(cx.graph, &planned.included, &durations)
            .with_groups(groups, group_count),
        wave_ran: vec![false; left_in_wave.len()],
        left_in_wave,
        running: HashMap::new(),
        priors,
        failed: Vec::new(),
        stop: None,
        interrupt: Interrupt::default(),
        started: chrono::Utc::now(),
        resume,
        fleets,
        target_rollbacks: Vec::new(),
    };
    reporter.report(&Event::ApplyStarted {
        migration: spec.settings.name.clone(),
        nodes: planned.included.iter().filter(|i| **i).count(),
        waves: planned.plan.waves,
    });
    w.restore_removed(reporter).await?;
    w.run(opts, reporter, confirm).await?;
    let outcome = w.finish(opts, reporter).await?;
    Ok(outcome)
}

impl Walk<'_, '_> {
    fn record(&mut self, address: &str, state: NodeState) {
        self.rec.record(address, state);
    }

    fn flush(&mut self) -> Result<(), StateError> {
        self.rec.flush(self.cx.backend)
    }

    fn base_state(&self, id: NodeId, status: NodeStatus, digest: &str) -> NodeState {
        let node = &self.cx.spec.nodes[id];
        let mut s = self
            .rec
            .doc
            .nodes
            .get(&node.address)
            .cloned()
            .unwrap_or_else(|| NodeState::new(status, digest));
        s.status = status;
        s.digest = digest.to_string();
        s.kind = Some(node.decl.kind.keyword().to_string());
        s.type_name = Some(node.decl.type_name.clone());
        s.error = None;
        s
    }

    /// Attributes or outputs as the lockfile keeps them: secrets (sensitive
    /// attributes and outputs of the node's type, and attributes whose
    /// evaluated value is sensitive) as salted digests.
    fn redact(&self, id: NodeId, attrs: &Attrs) -> serde_json::Value {
        let node = &self.cx.spec.nodes[id];
        let schema = self
            .cx
            .registry
            .schema(node.decl.kind, &node.decl.type_name);
        let evaluated = self.evals[id].as_ref();
        let secret = |k: &str| {
            evaluated.is_some_and(|ne| ne.attrs.get(k).is_some_and(|e| e.sensitive))
                || schema.is_some_and(|s| {
                    s.sensitive_outputs.contains(&k)
                        || s.attr(k).is_some_and(|a| {
                            a.sensitive
                                || a.sensitive_when.is_some_and(|(w, v)| {
                                    attrs.get(w).and_then(|x| x.as_str()) == Some(v)
                                })
                        })
                })
        };
        serde_json::Value::Object(
            attrs
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if secret(k) {
                            crate::eval::redact::remember_json(v);
                            crate::plan::evaluate::sensitive_digest(v, &self.rec.lineage)
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect(),
        )
    }

    /// A step's evaluated definition as the lockfile keeps it: sensitive values as salted digests.
    fn definition(&self, id: NodeId) -> serde_json::Value {
        let node = &self.cx.spec.nodes[id];
        let schema = self
            .cx
            .registry
            .schema(node.decl.kind, &node.decl.type_name);
        let Some(ne) = self.evals[id].as_ref() else {
            return serde_json::Value::Null;
        };
        let m: serde_json::Map<String, serde_json::Value> = ne
            .attrs
            .iter()
            .filter_map(|(k, v)| {
                let value = to_json(v.val.as_ref()?);
                let sensitive = v.sensitive || schema.is_some_and(|s| s.is_sensitive(k));
                Some((
                    k.clone(),
                    if sensitive {
                        crate::plan::evaluate::sensitive_digest(&value, &self.rec.lineage)
                    } else {
                        value
                    },
                ))
            })
            .collect();
        serde_json::Value::Object(m)
    }

    /// The wave up to which nodes may start now.
    fn wave_limit(&self, opts: &ApplyOptions) -> u32 {
        let mut limit = u32::MAX;
        if opts.strict_waves {
            limit = self
                .left_in_wave
                .iter()
                .position(|c| *c > 0)
                .unwrap_or(usize::MAX) as u32;
        }
        if let Some(m) = opts.max_waves {
            limit = limit.min(m);
        }
        limit
    }

    /// A node reached its end for this apply (`ok`: done; `ran`: it did
    /// more than being skipped): waves and fleets count it. A wave whose
    /// every node was skipped gets no "done" line.
    fn finished(&mut self, id: NodeId, ok: bool, ran: bool, reporter: &mut dyn Reporter) {
        let w = self.cx.graph.wave(id) as usize;
        self.left_in_wave[w] -= 1;
        self.wave_ran[w] |= ran;
        if self.left_in_wave[w] == 0 && self.wave_ran[w] {
            reporter.report(&Event::WaveDone { wave: w as u32 });
        }
        let mut events = Vec::new();
        let f = self.fleets.node_finished(self.cx, id, ok, &mut events);
        for e in &events {
            reporter.report(e);
        }
        if self.cx.spec.settings.on_failure == OnFailure::Rollback && !self.interrupt.happened {
            self.target_rollbacks.extend(f.roll_back);
        }
        if let (Some(why), None) = (f.stopped, &self.stop) {
            self.stop = Some(why);
        }
    }

    /// Opens the fleet targets that may start now.
    fn admit_targets(&mut self, reporter: &mut dyn Reporter) {
        let mut events = Vec::new();
        for g in self.fleets.admit(self.cx, &mut events) {
            self.ready.open_group(g);
        }
        for e in &events {
            reporter.report(e);
        }
    }

    /// Rolls back, each alone, the fleet targets that failed within their
    /// budget and have finished: the rest of the fleet goes on.
    async fn roll_back_targets(&mut self, reporter: &mut dyn Reporter) -> Result<(), ApplyError> {
        if self.target_rollbacks.is_empty() {
            return Ok(());
        }
        self.flush()?;
        for (f, t) in std::mem::take(&mut self.target_rollbacks) {
            let mut only = vec![false; self.cx.spec.nodes.len()];
            for id in self.cx.spec.fleets[f].targets[t].nodes.clone() {
                only[id] = self.planned.included[id];
            }
            self.undo(&only, reporter).await?;
        }
        Ok(())
    }

    /// Rolls back what completed among the `included` nodes, newest first.
    async fn undo(
        &mut self,
        included: &[bool],
        reporter: &mut dyn Reporter,
    ) -> Result<undo::Report, ApplyError> {
        let plan = undo::entries(self.cx, &self.rec.doc, included, &[]);
        undo::run(
            self.cx,
            &mut self.rec.doc,
            &self.rec.lineage,
            plan,
            &self.ev,
            &mut self.evals,
            reporter,
        )
        .await
        .map_err(ApplyError::from)
    }

    /// Resources whose blocks were removed from the spec: restore them first.
    async fn restore_removed(&mut self, reporter: &mut dyn Reporter) -> Result<(), ApplyError> {
        for pn in self
            .planned
            .plan
            .nodes
            .iter()
            .filter(|n| n.action == Action::Delete)
        {
            let Some(st) = self.rec.doc.nodes.get(&pn.address).cloned() else {
                continue;
            };
            let Some(p) = self
                .cx
                .registry
                .provider(NodeKind::Resource, &pn.type_name)
                .cloned()
            else {
                continue;
            };
            let identity: Attrs = st
                .identity
                .as_ref()
                .and_then(JsonText::object)
                .unwrap_or_default();
            let desired: Option<Attrs> = st.prior.as_ref().and_then(JsonText::object);
            reporter.report(&Event::NodeStarted {
                address: pn.address.clone(),
                wave: 0,
                attempt: 1,
            });
            match p.apply(&pn.type_name, desired.as_ref(), &identity).await {
                Ok(_) => {
                    let mut s = st.clone();
                    s.status = NodeStatus::RolledBack;
                    s.finished_at = Some(now());
                    self.record(&pn.address, s);
                    self.flush()?;
                    reporter.report(&Event::NodeDone {
                        address: pn.address.clone(),
                        elapsed_ms: 0,
                        detail: "restored".into(),
                    });
                }
                Err(e) => {
                    reporter.report(&Event::NodeFailed {
                        address: pn.address.clone(),
                        error: e.to_string(),
                        retry_in_ms: None,
                    });
                    self.stop = Some(format!("{} could not be restored", pn.address));
                }
            }
        }
        Ok(())
    }

    async fn run(
        &mut self,
        opts: &ApplyOptions,
        reporter: &mut dyn Reporter,
        confirm: &mut dyn Confirm,
    ) -> Result<(), ApplyError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let mut sigint =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            self.roll_back_targets(reporter).await?;
            if self.stop.is_none() {
                self.admit_targets(reporter);
            }
            // Start what may start, journaling every start before any of them runs.
            let mut jobs = Vec::new();
            while self.stop.is_none() && self.running.len() + jobs.len() < opts.parallelism.max(1) {
                let Some(id) = self.ready.take_within(self.wave_limit(opts)) else {
                    break;
                };
                match self.prepare(id, reporter, confirm) {
                    Prepared::Job(job) => jobs.push(job),
                    Prepared::Finished => {}
                }
            }
            self.flush()?;
            for mut job in jobs {
                let id = job.id;
                if job.kind == NodeKind::Gate && job.type_name == crate::providers::approval::TYPE {
                    job.provider = std::sync::Arc::new(super::approval::Approver {
                        id,
                        address: self.cx.spec.nodes[id].address.clone(),
                        tx: tx.clone(),
                    });
                }
                let node = &self.cx.spec.nodes[id];
                reporter.report(&Event::NodeStarted {
                    address: node.address.clone(),
                    wave: self.cx.graph.wave(id),
                    attempt: 1,
                });
                let handle = tokio::spawn(execute::run(*job, tx.clone()));
                self.running
                    .insert(id, (handle.abort_handle(), Instant::now()));
            }
            let fleet_wake = self.fleets.wakes_at().filter(|_| self.stop.is_none());
            if self.running.is_empty() {
                // Nothing could start: all done, stopping, the rest lies beyond
                // the wave limit — or a fleet soaks between batches.
                match fleet_wake {
                    Some(at) if self.target_rollbacks.is_empty() => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => continue,
                            _ = recv_signal(&mut sigint) => { self.interrupt(opts, reporter)?; continue; }
                            _ = recv_signal(&mut sigterm) => { self.interrupt(opts, reporter)?; continue; }
                        }
                    }
                    _ if !self.target_rollbacks.is_empty() => continue,
                    _ => break,
                }
            }
            let grace = self.interrupt.grace_until;
            let first = tokio::select! {
                m = rx.recv() => m,
                _ = recv_signal(&mut sigint) => { self.interrupt(opts, reporter)?; continue; }
                _ = recv_signal(&mut sigterm) => { self.interrupt(opts, reporter)?; continue; }
                _ = sleep_until(grace) => {
                    self.cancel_running("cancelled: the stop timeout after the interrupt passed", reporter)?;
                    continue;
                }
                _ = sleep_until(fleet_wake) => continue,
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            while let Ok(m) = rx.try_recv() {
                batch.push(m);
            }
            self.handle(batch, reporter)?;
        }
        Ok(())
    }

    /// SIGINT or SIGTERM. The first starts nothing new, abandons what only
    /// waits (gates, approvals, `wait` steps: checked again on resume) and
    /// gives the rest `--stop-timeout` to finish; the second cancels them.
    fn interrupt(
        &mut self,
        opts: &ApplyOptions,
        reporter: &mut dyn Reporter,
    ) -> Result<(), ApplyError> {
        if self.interrupt.happened {
            return self.cancel_running("cancelled by a second interrupt", reporter);
        }
        self.interrupt.happened = true;
        self.stop = Some("interrupted".into());
        self.interrupt
            .stop_loops
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let waiting: Vec<NodeId> = self
            .running
            .keys()
            .copied()
            .filter(|id| self.only_waits(*id))
            .collect();
        for id in waiting {
            let address = self.stop_node(id, NodeStatus::Pending, None);
            reporter.report(&Event::NodeAbandoned { address });
        }
        self.flush()?;
        let mut running: Vec<String> = self
            .running
            .keys()
            .map(|id| self.cx.spec.nodes[*id].address.clone())
            .collect();
        running.sort();
        self.interrupt.grace_until = Some(tokio::time::Instant::now() + opts.stop_timeout);
        reporter.report(&Event::Interrupted {
            running,
            second: false,
            grace_ms: ms(opts.stop_timeout),
        });
        Ok(())
    }

    /// The digest the state records for `address` (empty when none).
    fn recorded_digest(&self, address: &str) -> String {
        self.rec
            .doc
            .nodes
            .get(address)
            .map(|s| s.digest.clone())
            .unwrap_or_default()
    }

    /// Aborts a running node's worker and records it as `status` (`Pending`:
    /// as if it never started); its address.
    fn stop_node(&mut self, id: NodeId, status: NodeStatus, why: Option<&str>) -> String {
        if let Some((h, _)) = self.running.remove(&id) {
            h.abort();
        }
        let address = self.cx.spec.nodes[id].address.clone();
        let digest = self.recorded_digest(&address);
        let mut s = self.base_state(id, status, &digest);
        if status == NodeStatus::Pending {
            s.started_at = None;
        } else {
            s.finished_at = Some(now());
        }
        s.error = why.map(str::to_string);
        self.record(&address, s);
        address
    }

    /// Whether a running node only waits, with no side effect to cut short.
    fn only_waits(&self, id: NodeId) -> bool {
        let decl = &self.cx.spec.nodes[id].decl;
        decl.kind == NodeKind::Gate || (decl.kind == NodeKind::Step && decl.type_name == "wait")
    }

    /// Cancels every running node: each is recorded `interrupted`, and resume
    /// treats it as a step found `started` after a crash.
    fn cancel_running(&mut self, why: &str, reporter: &mut dyn Reporter) -> Result<(), ApplyError> {
        self.interrupt.grace_until = None;
        let mut ids: Vec<NodeId> = self.running.keys().copied().collect();
        ids.sort();
        reporter.report(&Event::Interrupted {
            running: ids
                .iter()
                .map(|id| self.cx.spec.nodes[*id].address.clone())
                .collect(),
            second: true,
            grace_ms: 0,
        });
        for id in ids {
            let address = self.stop_node(id, NodeStatus::Interrupted, Some(why));
            reporter.report(&Event::NodeInterrupted {
                address,
                reason: why.to_string(),
            });
        }
        self.flush()?;
        Ok(())
    }

    fn fail_node(&mut self, id: NodeId, error: String, reporter: &mut dyn Reporter) {
        let address = self.cx.spec.nodes[id].address.clone();
        let digest = self.recorded_digest(&address);
        let mut s = self.base_state(id, NodeStatus::Failed, &digest);
        s.finished_at = Some(now());
        s.error = Some(error.clone());
        self.record(&address, s);
        reporter.report(&Event::NodeFailed {
            address: address.clone(),
            error,
            retry_in_ms: None,
        });
        // A fleet target's failure within the error budget stays inside the
        // target: the rest of the migration goes on.
        let contained = self.fleets.contains_failure(self.cx, id);
        self.finished(id, false, true, reporter);
        let mut skipped = if contained && self.stop.is_none() {
            self.ready.fail_in_group(id)
        } else {
            self.failed.push(id);
            if self.stop.is_none() {
                self.stop = Some(format!("{address} failed"));
            }
            self.ready.fail(id)
        };
        // Reported in wave order, so that each "wave N done" comes after its skips.
        skipped.sort_by_key(|d| (self.cx.graph.wave(*d), *d));
        for d in skipped {
            let da = self.cx.spec.nodes[d].address.clone();
            let digest = self.recorded_digest(&da);
            let mut s = self.base_state(d, NodeStatus::Skipped, &digest);
            s.error = Some(format!("{address} failed"));
            self.record(&da, s);
            reporter.report(&Event::NodeSkipped {
                address: da,
                because: format!("{address} failed"),
            });
            self.finished(d, false, false, reporter);
        }
    }

    /// Evaluates a node now that its dependencies are done, and decides its work.
    fn prepare(
        &mut self,
        id: NodeId,
        reporter: &mut dyn Reporter,
        confirm: &mut dyn Confirm,
    ) -> Prepared {
        let cx = self.cx;
        let node = &cx.spec.nodes[id];
        let schema = cx.registry.schema(node.decl.kind, &node.decl.type_name);
        let mut diags = Diagnostics::default();
        let mut ne = evaluate_node(
            cx.spec,
            &self.ev,
            &Values(&self.evals),
            id,
            cx.registry,
            &mut diags,
        );
        let lock_state = self.rec.doc.nodes.get(&node.address).cloned();
        if node.decl.kind == NodeKind::Step {
            if let Some(s) = lock_state.as_ref().filter(|s| s.status == NodeStatus::Done) {
                ne.outputs = Some(s.outputs_json());
            }
        }
        let attributes: crate::plan::Attributes = ne
            .attrs
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    PlannedValue {
                        value: v.val.as_ref().map(to_json),
                        sensitive: v.sensitive || schema.is_some_and(|s| s.is_sensitive(k)),
                    },
                )
            })
            .collect();
        let digest = node_digest(
            planned_entries(&attributes),
            ne.rollback.as_ref(),
            &self.rec.lineage,
        );
        let action = self.action[id].unwrap_or(Action::Run);
        self.evals[id] = Some(Box::new(ne));
        if diags.has_errors() {
            let msg = diags
                .0
                .iter()
                .map(|d| d.detail.clone())
                .collect::<Vec<_>>()
                .join("; ");
            self.fail_node(id, msg, reporter);
            return Prepared::Finished;
        }
        let ne = self.evals[id].as_ref().expect("just stored");
        if let Some((k, _)) = ne.attrs.iter().find(|(_, v)| !v.is_known()) {
            let msg = format!("`{k}` is still unknown when the node starts");
            self.fail_node(id, msg, reporter);
            return Prepared::Finished;
        }
        if matches!(action, Action::Done | Action::NoChange | Action::Changed)
            && node.decl.kind != NodeKind::Data
        {
            let left_mid_change = matches!(
                lock_state.as_ref().map(|s| s.status),
                Some(NodeStatus::Started | NodeStatus::Interrupted)
            );
            // Done, or a resource the last apply was changing when it died
            // and that already matches: the change happened, record it.
            let now_done = action == Action::Done
                || (action == Action::NoChange
                    && node.decl.kind == NodeKind::Resource
                    && left_mid_change);
            if now_done && lock_state.as_ref().map(|s| s.status) != Some(NodeStatus::Done) {
                let mut s = self.base_state(id, NodeStatus::Done, &digest);
                s.finished_at = Some(now());
                if let Some(outputs) = self.resume.recovered.remove(&id) {
                    if let serde_json::Value::Object(m) = self.redact(id, &outputs) {
                        s.set_outputs(&m);
                    }
                    if let Some(ne) = self.evals[id].as_mut() {
                        ne.outputs = Some(JsonText::of(&outputs));
                    }
                }
                self.record(&node.address, s);
            }
            let reason = match self.resume.reasons.remove(&id) {
                Some(r) => r,
                None => self
                    .planned
                    .plan
                    .node(&node.address)
                    .map(|p| p.reason.clone())
                    .unwrap_or_default(),
            };
            reporter.report(&Event::NodeUnchanged {
                address: node.address.clone(),
                reason,
            });
            self.finished(id, true, true, reporter);
            self.ready.complete(id);
            return Prepared::Finished;
        }
        if node.decl.kind == NodeKind::Step
            && ne.lifecycle().irreversible
            && node.decl.body.block("rollback").is_none()
        {
            let none = crate::plan::Attributes::new();
            let runs = match self.planned.plan.node(&node.address) {
                Some(n) => &n.attributes,
                None => &none,
            };
            let crossing = super::Crossing {
                address: &node.address,
                runs,
            };
            reporter.report(&Event::Asking {
                address: node.address.clone(),
            });
            let confirmed = confirm.confirm(&crossing);
            reporter.report(&Event::PointOfNoReturn {
                address: node.address.clone(),
                confirmed,
            });
            if !confirmed {
                // It did not start: nothing is recorded, and apply stops here.
                self.stop = Some(format!(
                    "stopped before the point of no return {}",
                    node.address
                ));
                return Prepared::Finished;
            }
        }
        let Some(provider) = cx
            .registry
            .provider(node.decl.kind, &node.decl.type_name)
            .cloned()
        else {
            self.fail_node(
                id,
                format!(
                    "no provider serves {} \"{}\"",
                    node.decl.kind.keyword(),
                    node.decl.type_name
                ),
                reporter,
            );
            return Prepared::Finished;
        };
        let mut attrs = known_attrs(ne);
        let started_at = now();
        if node.decl.kind == NodeKind::Step {
            let run = crate::providers::run_id(&self.rec.lineage, &node.address, &started_at);
            // The provider's record of the run exists before the journal says it started.
            if let Err(e) = provider.prepare_run(&node.decl.type_name, &run) {
                self.fail_node(id, e.to_string(), reporter);
                return Prepared::Finished;
            }
            attrs.insert(
                crate::providers::RUN_ID.into(),
                serde_json::Value::String(run),
            );
        }
        let identity = if node.decl.kind == NodeKind::Resource {
            identity_of(cx, id, ne)
        } else {
            Attrs::new()
        };
        let mut state = self.base_state(id, NodeStatus::Started, &digest);
        state.started_at = Some(started_at);
        state.finished_at = None;
        // A loop the last apply left part-way carries its counts on.
        let resumed = matches!(
            lock_state.as_ref().map(|s| s.status),
            Some(NodeStatus::Started | NodeStatus::Interrupted)
        );
        if !resumed || !ne.attrs.contains_key("repeat") {
            state.progress = None;
        }
        let progress = state.progress.clone();
        let mut need_prior = false;
        let mut desired = None;
        if node.decl.kind == NodeKind::Resource {
            let key = object_key(cx, &node.decl.type_name, &identity);
            state.identity = Some(serde_json::to_value(&identity).unwrap_or_default().into());
            match self.priors.get(&key) {
                Some(p) => state.prior = Some(JsonText::of(p)),
                None => need_prior = true,
            }
            desired = Some(
                attrs
                    .iter()
                    .filter(|(k, _)| ne.schema_attrs().contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
        }
        let gate = (node.decl.kind == NodeKind::Gate).then(|| GateTiming {
            interval: ne
                .lifecycle()
                .interval
                .unwrap_or(execute::DEFAULT_GATE_INTERVAL),
            hold: ne.lifecycle().hold.unwrap_or_default(),
            timeout: ne
                .lifecycle()
                .timeout
                .unwrap_or(execute::DEFAULT_GATE_TIMEOUT),
            failure_limit: ne.lifecycle().failure_limit,
        });
        let job = Job {
            id,
            session: format!("cutover:{}:{}", cx.spec.settings.name, node.address),
            kind: node.decl.kind,
            type_name: node.decl.type_name.clone(),
            provider,
            attrs,
            identity,
            desired,
            need_prior,
            timeout: if node.decl.kind == NodeKind::Gate {
                None
            } else {
                ne.lifecycle().timeout
            },
            retry: ne.lifecycle().retry,
            gate,
            progress,
            stop: self.interrupt.stop_loops.clone(),
            throttles: throttles_of(cx, ne),
        };
        self.record(&node.address, state);
        Prepared::Job(Box::new(job))
    }

    fn handle(&mut self, batch: Vec<Msg>, reporter: &mut dyn Reporter) -> Result<(), ApplyError> {
        let mut acks = Vec::new();
        let mut finished = Vec::new();
        for m in batch {
            match m {
                Msg::Poll {
                    id,
                    holds,
                    measured,
                    value,
                    limits,
                    held,
                    hold,
                    remaining,
                } => reporter.report(&Event::GatePolled {
                    address: self.cx.spec.nodes[id].address.clone(),
                    holds,
                    measured,
                    value,
                    limits,
                    approval: self.cx.spec.nodes[id].decl.kind == NodeKind::Gate
                        && self.cx.spec.nodes[id].decl.type_name == "approval",
                    held_ms: ms(held),
                    for_ms: ms(hold),
                    remaining_ms: ms(remaining),
                }),
                Msg::Retrying {
                    id,
                    attempt,
                    error,
                    wait,
                } => reporter.report(&Event::NodeFailed {
                    address: self.cx.spec.nodes[id].address.clone(),
                    error: format!("attempt {attempt}: {error}"),
                    retry_in_ms: Some(ms(wait)),
                }),
                Msg::Prior { id, prior, ack } => {
                    let address = self.cx.spec.nodes[id].address.clone();
                    let prior = prior
                        .map(|p| self.redact(id, &p))
                        .unwrap_or(serde_json::Value::Null);
                    if let Some(mut s) = self.rec.doc.nodes.get(&address).cloned() {
                        let identity = s.identity.as_ref().and_then(JsonText::object);
                        if let (Some(t), Some(identity)) = (&s.type_name, identity) {
                            self.priors
                                .insert(object_key(self.cx, t, &identity), prior.clone());
                        }
                        s.prior = Some(prior.into());
                        self.record(&address, s);
                    }
                    acks.push(ack);
                }
                Msg::Finished { id, result } => finished.push((id, result)),
                Msg::Progress {
                    id,
                    progress,
                    affected,
                    remaining,
                    rows_per_s,
                    iterations_per_s,
                    eta,
                } => {
                    let address = self.cx.spec.nodes[id].address.clone();
                    if let Some(mut s) = self.rec.doc.nodes.get(&address).cloned() {
                        s.progress = Some(progress.clone());
                        // An iteration outside a transaction is journaled at once.
                        let transactional = self.evals[id]
                            .as_ref()
                            .and_then(|ne| ne.value("transaction"))
                            .and_then(|v| v.as_bool())
                            != Some(false);
                        if transactional {
                            self.rec.doc.nodes.insert(address.clone(), s.clone());
                            self.rec.progress(&address, s);
                        } else {
                            self.record(&address, s);
                        }
                    }
                    reporter.report(&Event::StepProgress {
                        address,
                        iteration: progress.iterations,
                        rows_affected: affected,
                        total_rows: progress.rows,
                        remaining,
                        rows_per_s,
                        iterations_per_s,
                        eta_ms: eta.map(ms),
                    });
                }
                Msg::Throttled {
                    id,
                    throttle,
                    measured,
                    waited,
                    max_wait,
                } => reporter.report(&Event::StepThrottled {
                    address: self.cx.spec.nodes[id].address.clone(),
                    throttle,
                    measured,
                    waited_ms: ms(waited),
                    max_wait_ms: ms(max_wait),
                }),
                Msg::Stopped { id } => {
                    if self.running.contains_key(&id) {
                        let why = "stopped between iterations by the interrupt; the loop resumes where it stopped";
                        let address = self.stop_node(id, NodeStatus::Interrupted, Some(why));
                        reporter.report(&Event::NodeInterrupted {
                            address,
                            reason: why.into(),
                        });
                    }
                }
                Msg::Approval { id, reply } => {
                    let answer = self
                        .cx
                        .backend
                        .records()
                        .map(|records| {
                            super::approval::find(
                                &records,
                                &self.rec.lineage,
                                &self.cx.spec.nodes[id].address,
                                // Approvals are stamped to the millisecond: a second's slack.
                                self.started - chrono::Duration::seconds(1),
                            )
                        })
                        .map_err(|e| format!("reading approvals: {e}"));
                    if let Ok(Some(a)) = &answer {
                        reporter.report(&Event::Approved {
                            address: self.cx.spec.nodes[id].address.clone(),
                            by: a.by.clone(),
                            at: a.at.clone(),
                            comment: a.comment.clone(),
                        });
                    }
                    let _ = reply.send(answer);
                }
            }
        }
        let mut done = Vec::new();
        for (id, result) in finished {
            let Some((_, started)) = self.running.remove(&id) else {
                continue;
            };
            let address = self.cx.spec.nodes[id].address.clone();
            match result {
                Ok(f) => {
                    let mut s = self
                        .rec
                        .doc
                        .nodes
                        .get(&address)
                        .cloned()
                        .unwrap_or_else(|| NodeState::new(NodeStatus::Done, ""));
                    s.status = NodeStatus::Done;
                    s.finished_at = Some(now());
                    s.error = None;
                    match self.redact(id, &f.outputs) {
                        serde_json::Value::Object(m) => s.set_outputs(&m),
                        _ => s.outputs_text = None,
                    }
                    if self.cx.spec.nodes[id].decl.kind == NodeKind::Step {
                        s.applied = Some(self.definition(id).into());
                        s.irreversible =
                            self.cx.spec.nodes[id].decl.body.block("rollback").is_none()
                                && self.evals[id]
                                    .as_ref()
                                    .is_some_and(|ne| ne.lifecycle().irreversible);
                    }
                    if let Some(applied) = &f.applied {
                        s.applied = Some(
                            applied
                                .as_ref()
                                .map(|a| self.redact(id, a))
                                .unwrap_or(serde_json::Value::Null)
                                .into(),
                        );
                    }
                    self.record(&address, s);
                    if let Some(ne) = self.evals[id].as_mut() {
                        ne.outputs = Some(JsonText::of(&f.outputs));
                    }
                    done.push((id, address, started.elapsed(), f.detail));
                }
                Err(e) => self.fail_node(id, e, reporter),
            }
        }
        // Durable before any dependent starts, before any prior-waiting worker changes its object.
        self.flush()?;
        for ack in acks {
            let _ = ack.send(());
        }
        for (id, address, elapsed, detail) in done {
            reporter.report(&Event::NodeDone {
                address,
                elapsed_ms: ms(elapsed),
                detail,
            });
            self.finished(id, true, true, reporter);
            self.ready.complete(id);
        }
        Ok(())
    }

    async fn finish(
        mut self,
        opts: &ApplyOptions,
        reporter: &mut dyn Reporter,
    ) -> Result<Outcome, ApplyError> {
        self.flush()?;
        // What cancelled nodes left: processes to end, queries to cancel on the server.
        crate::providers::cancel::settle(crate::providers::cancel::TERM_GRACE * 2).await;
        if !self.failed.is_empty() {
            let failed: Vec<String> = self
                .failed
                .iter()
                .map(|id| self.cx.spec.nodes[*id].address.clone())
                .collect();
            let rollback = if self.cx.spec.settings.on_failure == OnFailure::Rollback
                && !self.interrupt.happened
            {
                let included = self.planned.included.clone();
                Some(self.undo(&included, reporter).await?)
            } else {
                reporter.report(&Event::Stopped {
                    reason: "a node failed; nothing was rolled back (on_failure = \"stop\" or interrupted). Undo with `cutover rollback`, or fix and apply again".into(),
                });
                None
            };
            return Ok(Outcome::Failed { failed, rollback });
        }
        if self.interrupt.happened {
            let reason = "interrupted: what finished is recorded; run `cutover apply` to resume or `cutover rollback` to undo".to_string();
            reporter.report(&Event::Stopped {
                reason: reason.clone(),
            });
            return Ok(Outcome::Interrupted { reason });
        }
        if let Some(reason) = self.stop.clone() {
            reporter.report(&Event::Stopped {
                reason: reason.clone(),
            });
            return Ok(Outcome::Partial { reason });
        }
        if !self.fleets.failed_targets.is_empty() && self.ready.is_finished() {
            self.finish_complete()?;
            let targets = self
                .fleets
                .failed_targets
                .iter()
                .map(|&(f, t)| self.cx.spec.fleets[f].targets[t].address.clone())
                .collect();
            return Ok(Outcome::TargetsFailed { targets });
        }
        if !self.ready.is_finished() {
            let reason = match opts.max_waves {
                Some(m) => format!("stopped after wave {m} as asked (--max-waves {m}); run `cutover apply` again to continue"),
                None => "some nodes could not start".into(),
            };
            reporter.report(&Event::Stopped {
                reason: reason.clone(),
            });
            return Ok(Outcome::Partial { reason });
        }
        self.finish_complete()?;
        Ok(Outcome::Complete)
    }

    /// Every node ran: record the outputs and, for a whole-spec apply, the spec it reflects.
    fn finish_complete(&mut self) -> Result<(), ApplyError> {
        let outputs =
            root_outputs(self.cx.spec, &self.ev, &Values(&self.evals)).unwrap_or_default();
        let outputs: BTreeMap<String, serde_json::Value> = outputs
            .into_iter()
            .filter_map(|(k, v)| {
                let value = v.value?;
                Some((
                    k,
                    if v.sensitive {
                        crate::plan::evaluate::sensitive_digest(&value, &self.rec.lineage)
                    } else {
                        value
                    },
                ))
            })
            .collect();
        self.rec.push(Record {
            lineage: self.rec.lineage.clone(),
            change: crate::state::journal::Change::Outputs { outputs },
        });
        if !self.planned.plan.is_partial() {
            self.rec.push(Record {
                lineage: self.rec.lineage.clone(),
                change: crate::state::journal::Change::SpecDigest {
                    digest: self.cx.spec.digest.clone(),
                },
            });
        }
        self.flush()?;
        Ok(())
    }
}

/// What `prepare` made of a ready node.
enum Prepared {
    /// Work for a worker.
    Job(Box<Job>),
    /// Settled without a worker: already done, failed to evaluate, or declined.
    Finished,
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending::<()>().await,
    }
}

async fn recv_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
