//! The fleets of one apply: each fleet's batch scheduler
//! ([`FleetRun`](crate::graph::fleet::FleetRun)) fed with the nodes that
//! finish, and the ready set's groups opened as targets are admitted.
//!
//! A target's nodes are one ready-set group (numbered across fleets). Only
//! nodes with work to do count: a target whose nodes are all done already
//! (a retry after a partly failed fleet) has nothing to run and costs no
//! batch, no slot and no pause.

use super::{Context, Event};
use crate::graph::fleet::{FleetChange, FleetRules, FleetRun, TargetState};
use crate::plan::Action;
use crate::spec::{FleetId, NodeId};
use std::time::{Duration, Instant};

pub(super) struct Fleets {
    runs: Vec<FleetRun>,
    /// First group number of each fleet: target t of fleet f is group `offset[f] + t`.
    offset: Vec<usize>,
    /// Whether a node counts in its target's work.
    counted: Vec<bool>,
    started: Instant,
    /// Failed targets, within their fleet's budget: (fleet, target).
    pub failed_targets: Vec<(FleetId, usize)>,
}

impl Fleets {
    /// The fleets of the spec, and the ready-set group of every node.
    pub fn new(
        cx: &Context,
        included: &[bool],
        action: &[Option<Action>],
    ) -> (Fleets, Vec<Option<usize>>, usize) {
        let spec = cx.spec;
        let mut counted = vec![false; spec.nodes.len()];
        let mut group = vec![None; spec.nodes.len()];
        let mut offset = Vec::with_capacity(spec.fleets.len());
        let mut runs = Vec::with_capacity(spec.fleets.len());
        let mut groups = 0;
        for fleet in &spec.fleets {
            offset.push(groups);
            let mut left = vec![0; fleet.targets.len()];
            for (t, target) in fleet.targets.iter().enumerate() {
                for id in target.nodes.clone() {
                    let work = included[id] && action[id].is_some_and(Action::is_change);
                    if work {
                        counted[id] = true;
                        left[t] += 1;
                        group[id] = Some(groups + t);
                    }
                }
            }
            groups += fleet.targets.len();
            let rules = FleetRules {
                batches: fleet.batches.clone(),
                max_concurrency: fleet.max_concurrency,
                max_errors: fleet.max_errors,
                pause: fleet.pause,
            };
            runs.push(FleetRun::new(rules, left));
        }
        let fleets = Fleets {
            runs,
            offset,
            counted,
            started: Instant::now(),
            failed_targets: Vec::new(),
        };
        (fleets, group, groups)
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Targets that start now: their groups, to open in the ready set.
    pub fn admit(&mut self, cx: &Context, events: &mut Vec<Event>) -> Vec<usize> {
        let now = self.now();
        let mut groups = Vec::new();
        for (f, run) in self.runs.iter_mut().enumerate() {
            for t in run.admit(now) {
                let fleet = &cx.spec.fleets[f];
                events.push(Event::FleetTargetStarted {
                    fleet: fleet.address.clone(),
                    target: fleet.targets[t].address.clone(),
                    batch: run.batch_of(t),
                });
                groups.push(self.offset[f] + t);
            }
        }
        groups
    }

    /// When a pause ends, if one holds targets back.
    pub fn wakes_at(&self) -> Option<tokio::time::Instant> {
        let at = self.runs.iter().filter_map(FleetRun::wakes_at).min()?;
        Some(tokio::time::Instant::from_std(self.started + at))
    }

    /// Whether a failure of `id` stays inside its target: it is in a fleet
    /// whose budget takes one more failed target (or whose target already failed).
    pub fn contains_failure(&self, cx: &Context, id: NodeId) -> bool {
        let Some((f, t)) = cx.spec.nodes[id].fleet else {
            return false;
        };
        let run = &self.runs[f];
        self.counted[id]
            && (run.state(t) == TargetState::Failed || run.budget_left() > 0)
            && !run.is_stopped()
    }

    /// A node finished (`ok`: done). Returns what the operator should see,
    /// and whether its fleet just went beyond its error budget.
    pub fn node_finished(
        &mut self,
        cx: &Context,
        id: NodeId,
        ok: bool,
        events: &mut Vec<Event>,
    ) -> Finished {
        let mut out = Finished::default();
        let (Some((f, t)), true) = (cx.spec.nodes[id].fleet, self.counted[id]) else {
            return out;
        };
        self.counted[id] = false;
        let now = self.now();
        let changes = self.runs[f].node_finished(t, ok, now);
        let fleet = &cx.spec.fleets[f];
        let mut progress = false;
        for c in changes {
            match c {
                FleetChange::TargetFinished { target, ok } => {
                    events.push(Event::FleetTargetFinished {
                        fleet: fleet.address.clone(),
                        target: fleet.targets[target].address.clone(),
                        batch: self.runs[f].batch_of(target),
                        ok,
                    });
                    if !ok {
                        progress = true;
                        if !self.runs[f].is_stopped() {
                            self.failed_targets.push((f, target));
                            out.roll_back.push((f, target));
                        }
                    }
                }
                FleetChange::BatchDone { .. } => progress = true,
                FleetChange::BudgetExceeded { .. } => {
                    progress = true;
                    out.stopped = Some(format!(
                        "{} failed on {} targets, more than max_errors = {}",
                        fleet.address,
                        self.runs[f].failed(),
                        fleet.max_errors
                    ));
                }
            }
        }
        if progress {
            events.push(self.progress(cx, f));
        }
        out
    }

    fn progress(&self, cx: &Context, f: FleetId) -> Event {
        let run = &self.runs[f];
        let fleet = &cx.spec.fleets[f];
        let n = fleet.targets.len();
        let succeeded = (0..n)
            .filter(|&t| run.state(t) == TargetState::Succeeded)
            .count();
        let pause_ms = run
            .wakes_at()
            .and_then(|at| at.checked_sub(self.now()))
            .map(|d| d.as_millis() as u64)
            .filter(|&ms| ms > 0);
        Event::FleetProgress {
            fleet: fleet.address.clone(),
            batch: run.current_batch() + 1,
            batches: fleet.batches.len(),
            in_flight: run.in_flight(),
            succeeded,
            failed: run.failed(),
            budget_left: run.budget_left(),
            stopped: run.is_stopped(),
            pause_ms,
        }
    }
}

/// What a finished node changed in its fleet.
#[derive(Default)]
pub(super) struct Finished {
    /// Targets that failed within the budget: roll each back alone.
    pub roll_back: Vec<(FleetId, usize)>,
    /// The fleet went beyond its budget: why the migration stops.
    pub stopped: Option<String>,
}
