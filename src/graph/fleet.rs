//! The batch scheduler of a fleet: which targets may start now.
//!
//! Pure and synchronous, like the ready set: apply tells it when a target's
//! nodes finish and asks which targets to open. A target is all nodes of one
//! instance. Batch k+1 opens only when every target of batch k has finished
//! and the pause has passed; within a batch at most `max_concurrency`
//! targets run; a failed target counts against `max_errors`, and the next
//! failure beyond it stops the fleet: nothing new starts. Every decision
//! costs the same whatever the fleet's size.

use std::collections::VecDeque;
use std::time::Duration;

/// How a fleet rolls out.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRules {
    /// Cumulative target counts per batch; the last is the number of targets.
    pub batches: Vec<usize>,
    pub max_concurrency: usize,
    pub max_errors: usize,
    pub pause: Duration,
}

/// Where one target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Waiting,
    Running,
    Succeeded,
    Failed,
}

/// What changed after a target finished.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetChange {
    TargetFinished {
        target: usize,
        ok: bool,
    },
    /// Every target of the batch finished; the next opens after the pause.
    BatchDone {
        batch: usize,
    },
    /// One failure more than `max_errors`: the fleet starts nothing new.
    BudgetExceeded {
        failed: usize,
    },
}

/// One walk of a fleet.
#[derive(Debug, Clone)]
pub struct FleetRun {
    rules: FleetRules,
    batch_of: Vec<usize>,
    /// Nodes with work left, per target.
    left: Vec<usize>,
    state: Vec<TargetState>,
    /// Targets not finished, per batch.
    unfinished: Vec<usize>,
    /// Whether a target of the batch ran in this walk (a batch that had
    /// nothing to do is not soaked).
    ran: Vec<bool>,
    current: usize,
    opens_at: Duration,
    queue: VecDeque<usize>,
    in_flight: usize,
    failed: usize,
    stopped: bool,
}

impl FleetRun {
    /// A walk in which target t has `left[t]` nodes with work to do; a
    /// target with none has nothing to run and counts as succeeded.
    pub fn new(rules: FleetRules, left: Vec<usize>) -> FleetRun {
        let n = left.len();
        let mut batch_of = vec![0; n];
        let mut unfinished = vec![0; rules.batches.len()];
        let mut start = 0;
        for (b, &end) in rules.batches.iter().enumerate() {
            for t in start..end.min(n) {
                batch_of[t] = b;
                if left[t] > 0 {
                    unfinished[b] += 1;
                }
            }
            start = end;
        }
        let state = left
            .iter()
            .map(|&l| {
                if l > 0 {
                    TargetState::Waiting
                } else {
                    TargetState::Succeeded
                }
            })
            .collect();
        let mut run = FleetRun {
            ran: vec![false; rules.batches.len()],
            rules,
            batch_of,
            left,
            state,
            unfinished,
            current: 0,
            opens_at: Duration::ZERO,
            queue: VecDeque::new(),
            in_flight: 0,
            failed: 0,
            stopped: false,
        };
        run.fill_queue();
        run.advance(Duration::ZERO);
        run
    }

    fn fill_queue(&mut self) {
        let Some(&end) = self.rules.batches.get(self.current) else {
            return;
        };
        let start = if self.current == 0 {
            0
        } else {
            self.rules.batches[self.current - 1]
        };
        self.queue = (start..end.min(self.state.len()))
            .filter(|&t| self.state[t] == TargetState::Waiting)
            .collect();
    }

    /// Opens the next batches whose targets have all finished.
    fn advance(&mut self, now: Duration) -> Vec<FleetChange> {
        let mut out = Vec::new();
        while self.current < self.rules.batches.len() && self.unfinished[self.current] == 0 {
            if self.ran[self.current] {
                out.push(FleetChange::BatchDone {
                    batch: self.current,
                });
                self.opens_at = now + self.rules.pause;
            }
            self.current += 1;
            self.fill_queue();
        }
        out
    }

    /// The targets that start now (at most the concurrency left, in order).
    pub fn admit(&mut self, now: Duration) -> Vec<usize> {
        let mut out = Vec::new();
        if self.stopped || now < self.opens_at {
            return out;
        }
        while self.in_flight < self.rules.max_concurrency {
            let Some(t) = self.queue.pop_front() else {
                break;
            };
            self.state[t] = TargetState::Running;
            self.ran[self.batch_of[t]] = true;
            self.in_flight += 1;
            out.push(t);
        }
        out
    }

    /// When a pause ends and `admit` may give targets again.
    pub fn wakes_at(&self) -> Option<Duration> {
        (!self.stopped && !self.queue.is_empty() && self.in_flight < self.rules.max_concurrency)
            .then_some(self.opens_at)
    }

    /// A node of target `t` with work to do finished (`ok`: done; else failed or skipped).
    pub fn node_finished(&mut self, t: usize, ok: bool, now: Duration) -> Vec<FleetChange> {
        let mut out = Vec::new();
        if !ok && self.state[t] == TargetState::Running {
            self.state[t] = TargetState::Failed;
            self.failed += 1;
            if self.failed > self.rules.max_errors && !self.stopped {
                self.stopped = true;
                out.push(FleetChange::BudgetExceeded {
                    failed: self.failed,
                });
            }
        }
        self.left[t] = self.left[t].saturating_sub(1);
        if self.left[t] > 0 {
            return out;
        }
        let ok = self.state[t] != TargetState::Failed;
        if ok {
            self.state[t] = TargetState::Succeeded;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        let b = self.batch_of[t];
        self.unfinished[b] = self.unfinished[b].saturating_sub(1);
        out.push(FleetChange::TargetFinished { target: t, ok });
        out.extend(self.advance(now));
        out
    }

    pub fn state(&self, t: usize) -> TargetState {
        self.state[t]
    }

    pub fn batch_of(&self, t: usize) -> usize {
        self.batch_of[t]
    }

    /// The batch that is open (or next to open); the number of batches when all are done.
    pub fn current_batch(&self) -> usize {
        self.current
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn failed(&self) -> usize {
        self.failed
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Failures the fleet still tolerates.
    pub fn budget_left(&self) -> usize {
        self.rules.max_errors.saturating_sub(self.failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(batches: Vec<usize>, conc: usize, errors: usize) -> FleetRules {
        FleetRules {
            batches,
            max_concurrency: conc,
            max_errors: errors,
            pause: Duration::from_secs(10),
        }
    }

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn batches_open_in_turn_after_the_pause_and_respect_the_cap() {
        // 6 targets of one node each: a canary, then 2, then 3; two at a time.
        let mut f = FleetRun::new(rules(vec![1, 3, 6], 2, 0), vec![1; 6]);
        assert_eq!(f.admit(s(0)), [0]);
        assert_eq!(
            f.admit(s(0)),
            Vec::<usize>::new(),
            "batch 2 waits for the canary"
        );
        assert_eq!(
            f.node_finished(0, true, s(5)),
            [
                FleetChange::TargetFinished {
                    target: 0,
                    ok: true
                },
                FleetChange::BatchDone { batch: 0 }
            ]
        );
        assert_eq!(f.wakes_at(), Some(s(15)));
        assert!(f.admit(s(14)).is_empty(), "the pause");
        assert_eq!(f.admit(s(15)), [1, 2]);
        f.node_finished(1, true, s(16));
        assert!(f.admit(s(16)).is_empty(), "batch 3 waits for target 2");
        f.node_finished(2, true, s(17));
        assert_eq!(f.admit(s(27)), [3, 4], "at most two at once");
        f.node_finished(3, true, s(28));
        assert_eq!(f.admit(s(28)), [5]);
        f.node_finished(4, true, s(29));
        let last = f.node_finished(5, true, s(30));
        assert!(last.contains(&FleetChange::BatchDone { batch: 2 }));
        assert_eq!(f.current_batch(), 3);
        assert_eq!(f.wakes_at(), None);
    }

    #[test]
    fn failures_within_the_budget_go_on_and_the_next_one_stops() {
        let mut f = FleetRun::new(rules(vec![4], 4, 1), vec![2; 4]);
        assert_eq!(f.admit(s(0)), [0, 1, 2, 3]);
        assert!(f.node_finished(0, false, s(1)).is_empty(), "one node left");
        assert_eq!(f.state(0), TargetState::Failed);
        assert_eq!(
            f.node_finished(0, false, s(1)),
            [FleetChange::TargetFinished {
                target: 0,
                ok: false
            }],
            "its skipped node finishes the target"
        );
        assert_eq!(f.budget_left(), 0);
        assert_eq!(
            f.node_finished(1, false, s(2)),
            [FleetChange::BudgetExceeded { failed: 2 }]
        );
        assert!(f.is_stopped());
    }

    #[test]
    fn targets_with_nothing_to_do_are_skipped_without_a_pause() {
        // A retry: only target 2 failed last time.
        let mut f = FleetRun::new(rules(vec![1, 3], 3, 0), vec![0, 0, 1]);
        assert_eq!(f.current_batch(), 1);
        assert_eq!(f.admit(s(0)), [2]);
    }

    #[test]
    fn a_decision_costs_the_same_for_any_fleet_size() {
        // Not timed: counts the targets a decision touches.
        for n in [10usize, 10_000] {
            let mut f = FleetRun::new(rules(vec![n], 3, n), vec![1; n]);
            let first = f.admit(s(0));
            assert_eq!(first.len(), 3);
            let changes = f.node_finished(first[0], true, s(0));
            assert_eq!(changes.len(), 1);
            assert_eq!(f.admit(s(0)).len(), 1);
        }
    }
}
