//! The ready set: which nodes may start now, given which have finished.
//!
//! Pure and synchronous: apply's coordinator asks it what is ready, reports
//! completions and failures, and decides itself how many to start. A failed
//! node's dependents, transitively, are skipped rather than failed.
//!
//! Among ready nodes, the one with the longest remaining path to the end of
//! the graph (by duration) goes first — critical-path list scheduling — then
//! the lowest wave, then the lowest id.

use super::Graph;
use crate::spec::NodeId;

/// The state of one node in a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Waiting,
    Ready,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Tracks, for one walk of the graph, how many dependencies each node still awaits.
#[derive(Debug, Clone)]
pub struct ReadySet {
    pending: Vec<usize>,
    marks: Vec<Mark>,
    dependents: Vec<Vec<NodeId>>,
    ready: std::collections::BTreeSet<Key>,
    waves: Vec<u32>,
    /// Remaining path length (ms) from each node to the end of the graph.
    priority: Vec<u64>,
    /// The group (a fleet target) of each node; a ready node of a closed
    /// group is held until the group opens.
    group: Vec<Option<usize>>,
    open: Vec<bool>,
    held: Vec<Vec<NodeId>>,
}

/// Ready-queue order: longest remaining path first, then wave, then id.
type Key = (std::cmp::Reverse<u64>, u32, NodeId);

impl ReadySet {
    /// A walk over the nodes for which `include` is true; the others count as done.
    pub fn new(graph: &Graph, include: &[bool]) -> ReadySet {
        ReadySet::with_durations(graph, include, &[])
    }

    /// A walk that prefers, among ready nodes, those on the longest remaining
    /// path by `durations` (missing durations count as zero).
    pub fn with_durations(
        graph: &Graph,
        include: &[bool],
        durations: &[std::time::Duration],
    ) -> ReadySet {
        let n = graph.len();
        let mut rs = ReadySet {
            pending: vec![0; n],
            marks: vec![Mark::Done; n],
            dependents: vec![Vec::new(); n],
            ready: Default::default(),
            waves: (0..n).map(|i| graph.wave(i)).collect(),
            priority: graph
                .remaining_path(durations)
                .iter()
                .map(|d| d.as_millis() as u64)
                .collect(),
            group: Vec::new(),
            open: Vec::new(),
            held: Vec::new(),
        };
        for (a, b) in graph.edges() {
            if include[a] && include[b] {
                rs.pending[b] += 1;
                rs.dependents[a].push(b);
            }
        }
        for (id, &inc) in include.iter().enumerate().take(n) {
            if inc {
                rs.marks[id] = Mark::Waiting;
                if rs.pending[id] == 0 {
                    rs.marks[id] = Mark::Ready;
                    rs.ready.insert(rs.key(id));
                }
            }
        }
        rs
    }

    /// Puts nodes in groups, all closed: their nodes are held when ready
    /// until [`ReadySet::open_group`].
    pub fn with_groups(mut self, group: Vec<Option<usize>>, groups: usize) -> ReadySet {
        self.open = vec![false; groups];
        self.held = vec![Vec::new(); groups];
        self.group = group;
        let ready: Vec<NodeId> = self.ready.iter().map(|k| k.2).collect();
        for id in ready {
            if let Some(g) = self.closed_group(id) {
                self.ready.remove(&self.key(id));
                self.held[g].push(id);
            }
        }
        self
    }

    fn closed_group(&self, id: NodeId) -> Option<usize> {
        self.group
            .get(id)
            .copied()
            .flatten()
            .filter(|&g| !self.open[g])
    }

    /// Releases the held nodes of group `g`; later ones are ready at once.
    pub fn open_group(&mut self, g: usize) {
        self.open[g] = true;
        for id in std::mem::take(&mut self.held[g]) {
            if self.marks[id] == Mark::Ready {
                self.ready.insert(self.key(id));
            }
        }
    }

    fn make_ready(&mut self, id: NodeId) {
        self.marks[id] = Mark::Ready;
        match self.closed_group(id) {
            Some(g) => self.held[g].push(id),
            None => {
                self.ready.insert(self.key(id));
            }
        }
    }

    fn key(&self, id: NodeId) -> Key {
        (std::cmp::Reverse(self.priority[id]), self.waves[id], id)
    }

    /// Takes the next ready node; it becomes running.
    pub fn take(&mut self) -> Option<NodeId> {
        self.take_within(u32::MAX)
    }

    /// Takes the next ready node in a wave no later than `max_wave`.
    pub fn take_within(&mut self, max_wave: u32) -> Option<NodeId> {
        let key = *self.ready.iter().find(|(_, w, _)| *w <= max_wave)?;
        self.ready.remove(&key);
        self.marks[key.2] = Mark::Running;
        Some(key.2)
    }

    /// Records that `id` finished; returns the nodes that became ready.
    pub fn complete(&mut self, id: NodeId) -> Vec<NodeId> {
        self.marks[id] = Mark::Done;
        let mut newly = Vec::new();
        for i in 0..self.dependents[id].len() {
            let d = self.dependents[id][i];
            self.pending[d] -= 1;
            if self.pending[d] == 0 && self.marks[d] == Mark::Waiting {
                self.make_ready(d);
                newly.push(d);
            }
        }
        newly
    }

    /// Records that `id`, of a group, failed: its dependents in the group
    /// are skipped, transitively; those outside it go on as if it had
    /// finished (a fleet target's failure within the error budget).
    pub fn fail_in_group(&mut self, id: NodeId) -> Vec<NodeId> {
        let g = self.group.get(id).copied().flatten();
        self.marks[id] = Mark::Failed;
        let mut skipped = Vec::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            for i in 0..self.dependents[n].len() {
                let d = self.dependents[n][i];
                let inside = g.is_some() && self.group.get(d).copied().flatten() == g;
                if inside && matches!(self.marks[d], Mark::Waiting | Mark::Ready) {
                    self.ready.remove(&self.key(d));
                    self.marks[d] = Mark::Skipped;
                    skipped.push(d);
                    stack.push(d);
                } else if !inside {
                    self.pending[d] -= 1;
                    if self.pending[d] == 0 && self.marks[d] == Mark::Waiting {
                        self.make_ready(d);
                    }
                }
            }
        }
        skipped.sort_unstable();
        skipped
    }

    /// Records that `id` failed; returns its dependents, transitively, now skipped.
    pub fn fail(&mut self, id: NodeId) -> Vec<NodeId> {
        self.marks[id] = Mark::Failed;
        let mut skipped = Vec::new();
        let mut stack = self.dependents[id].clone();
        while let Some(d) = stack.pop() {
            if matches!(self.marks[d], Mark::Waiting | Mark::Ready) {
                self.ready.remove(&self.key(d));
                self.marks[d] = Mark::Skipped;
                skipped.push(d);
                stack.extend(self.dependents[d].iter().copied());
            }
        }
        skipped.sort_unstable();
        skipped
    }

    pub fn mark(&self, id: NodeId) -> Mark {
        self.marks[id]
    }

    /// True when nothing is ready or running and nothing can become ready.
    pub fn is_finished(&self) -> bool {
        !self
            .marks
            .iter()
            .any(|m| matches!(m, Mark::Waiting | Mark::Ready | Mark::Running))
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0 → 1 → 3, 0 → 2 → 3, 4 alone.
    fn diamond() -> Graph {
        Graph::from_edges(5, &[(0, 1), (0, 2), (1, 3), (2, 3)]).unwrap()
    }

    #[test]
    fn releases_a_node_when_all_its_dependencies_are_done() {
        let g = diamond();
        let mut rs = ReadySet::new(&g, &[true; 5]);
        assert_eq!((rs.take(), rs.take(), rs.take()), (Some(0), Some(4), None));
        assert_eq!(rs.complete(0), vec![1, 2]);
        assert_eq!((rs.take(), rs.take()), (Some(1), Some(2)));
        assert!(rs.complete(1).is_empty());
        assert_eq!(rs.complete(2), vec![3]);
        assert_eq!(rs.take(), Some(3));
        rs.complete(3);
        rs.complete(4);
        assert!(rs.is_finished());
    }

    #[test]
    fn failure_skips_dependents_transitively() {
        let g = diamond();
        let mut rs = ReadySet::new(&g, &[true; 5]);
        assert_eq!(rs.take(), Some(0));
        rs.complete(0);
        assert_eq!((rs.take(), rs.take()), (Some(4), Some(1)));
        assert_eq!(rs.fail(1), vec![3]);
        assert_eq!(rs.mark(3), Mark::Skipped);
        assert_eq!(rs.take(), Some(2), "independent work may still finish");
    }

    #[test]
    fn the_longest_remaining_path_goes_first() {
        // 0 → 1 (long), 2 alone (short): 0 first although 2 has the same wave.
        let g = Graph::from_edges(3, &[(0, 1)]).unwrap();
        let d = [1, 10, 5].map(std::time::Duration::from_secs);
        let mut rs = ReadySet::with_durations(&g, &[true; 3], &d);
        assert_eq!(rs.take(), Some(0));
        assert_eq!(rs.take(), Some(2));
    }

    #[test]
    fn excluded_nodes_count_as_done_and_waves_bound_what_is_taken() {
        let g = diamond();
        let mut rs = ReadySet::new(&g, &[false, true, true, true, false]);
        assert_eq!(rs.take_within(1), None, "nodes 1 and 2 are in wave 2");
        assert_eq!(rs.take_within(2), Some(1));
    }

    #[test]
    fn a_group_is_held_until_opened_and_its_failure_stays_inside() {
        // Targets A = {0 → 1} and B = {2 → 3}; 4 waits for 1 and 3.
        let g = Graph::from_edges(5, &[(0, 1), (2, 3), (1, 4), (3, 4)]).unwrap();
        let mut rs = ReadySet::new(&g, &[true; 5])
            .with_groups(vec![Some(0), Some(0), Some(1), Some(1), None], 2);
        assert_eq!(rs.take(), None, "both targets closed");
        rs.open_group(1);
        assert_eq!(rs.take(), Some(2));
        assert_eq!(rs.fail_in_group(2), vec![3], "B's own node is skipped");
        assert_eq!(rs.mark(4), Mark::Waiting, "4 still waits for A");
        rs.open_group(0);
        assert_eq!(rs.take(), Some(0));
        rs.complete(0);
        assert_eq!(rs.take(), Some(1));
        rs.complete(1);
        assert_eq!(rs.take(), Some(4), "4 runs: B failed within its fleet");
    }
}
