//! The dependency graph — pipeline step two.
//!
//! `graph` owns node ids and addresses, the edges drawn from references and
//! `depends_on`, rollout stage ordering, cycle detection, waves, the critical
//! path, the pure [`ReadySet`] that apply drives and a fleet's batch scheduler
//! ([`fleet`]). It is built by a list of
//! small named passes ([`build`]) and validated once at the end. It never
//! knows what a node does and never spawns tasks.

mod build;
mod cycles;
pub mod fleet;
mod ready;

pub use ready::ReadySet;

use crate::spec::{Diagnostic, Diagnostics, NodeId, Spec};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;
use std::time::Duration;

/// The dependency graph of a spec: an edge `a → b` means b waits for a.
#[derive(Debug)]
pub struct Graph {
    g: DiGraph<NodeId, ()>,
    /// Nodes in a topological order (ties broken by node id).
    topo: Vec<NodeId>,
    /// wave(n) = 1 + max wave of its dependencies.
    waves: Vec<u32>,
}

impl Graph {
    /// Builds and validates the graph of `spec`; every problem is reported at once.
    pub fn build(spec: &Spec) -> Result<Graph, Diagnostics> {
        build::build(spec)
    }

    /// A graph of `n` nodes from plain edges (for tests and benchmarks);
    /// on a cycle, the cycles found.
    pub fn from_edges(n: usize, edges: &[(NodeId, NodeId)]) -> Result<Graph, Vec<Vec<NodeId>>> {
        build::from_edges(n, edges)
    }

    fn ix(id: NodeId) -> NodeIndex {
        NodeIndex::new(id)
    }

    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nodes `id` waits for, sorted.
    pub fn dependencies(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .g
            .neighbors_directed(Self::ix(id), petgraph::Direction::Incoming)
            .map(|i| i.index())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The nodes waiting for `id`, sorted.
    pub fn dependents(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .g
            .neighbors_directed(Self::ix(id), petgraph::Direction::Outgoing)
            .map(|i| i.index())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every edge as (dependency, dependent), sorted.
    pub fn edges(&self) -> Vec<(NodeId, NodeId)> {
        let mut v: Vec<_> = self
            .g
            .edge_indices()
            .filter_map(|e| self.g.edge_endpoints(e))
            .map(|(a, b)| (a.index(), b.index()))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn topo_order(&self) -> &[NodeId] {
        &self.topo
    }

    pub fn wave(&self, id: NodeId) -> u32 {
        self.waves[id]
    }

    pub fn wave_count(&self) -> u32 {
        self.waves.iter().copied().max().unwrap_or(0)
    }

    /// Whether `to` is reachable from `from` along edges.
    pub fn reaches(&self, from: NodeId, to: NodeId) -> bool {
        petgraph::algo::has_path_connecting(&self.g, Self::ix(from), Self::ix(to), None)
    }

    /// The nodes `targets` need: themselves and everything they depend on, transitively.
    pub fn with_dependencies(&self, targets: &[NodeId]) -> Vec<bool> {
        let mut keep = vec![false; self.len()];
        let mut stack: Vec<NodeId> = targets.to_vec();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut keep[n], true) {
                continue;
            }
            stack.extend(self.dependencies(n));
        }
        keep
    }

    /// Everything that depends on `sources`, transitively (the sources themselves excluded
    /// unless one depends on another).
    pub fn dependents_of(&self, sources: &[NodeId]) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<NodeId> = sources.iter().flat_map(|s| self.dependents(*s)).collect();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            stack.extend(self.dependents(n));
        }
        seen
    }

    /// For each node, the longest path by duration from its start to the end
    /// of the graph (its own duration included).
    pub fn remaining_path(&self, durations: &[Duration]) -> Vec<Duration> {
        let mut rest = vec![Duration::ZERO; self.len()];
        for &n in self.topo.iter().rev() {
            let after = self
                .dependents(n)
                .into_iter()
                .map(|d| rest[d])
                .max()
                .unwrap_or_default();
            rest[n] = after + durations.get(n).copied().unwrap_or_default();
        }
        rest
    }

    /// The longest path by duration: its total and its nodes in order.
    pub fn critical_path(&self, durations: &[Duration]) -> (Duration, Vec<NodeId>) {
        let mut finish = vec![Duration::ZERO; self.len()];
        let mut prev: Vec<Option<NodeId>> = vec![None; self.len()];
        for &n in &self.topo {
            let mut start = Duration::ZERO;
            for d in self.dependencies(n) {
                if finish[d] > start || (finish[d] == start && prev[n].is_none()) {
                    start = finish[d];
                    prev[n] = Some(d);
                }
            }
            finish[n] = start + durations.get(n).copied().unwrap_or_default();
        }
        let Some(end) = (0..self.len()).max_by(|a, b| finish[*a].cmp(&finish[*b]).then(b.cmp(a)))
        else {
            return (Duration::ZERO, Vec::new());
        };
        let mut path = vec![end];
        let mut cur = end;
        while let Some(p) = prev[cur] {
            path.push(p);
            cur = p;
        }
        path.reverse();
        (finish[end], path)
    }

    /// Checks that blocks naming the same real object are totally ordered.
    /// `groups` lists, per object, the nodes that name it.
    pub fn check_same_object(&self, spec: &Spec, groups: &[(String, Vec<NodeId>)]) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let pos: HashMap<NodeId, usize> =
            self.topo.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        for (object, nodes) in groups {
            let mut nodes = nodes.clone();
            nodes.sort_by_key(|n| pos[n]);
            for pair in nodes.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if !self.reaches(a, b) {
                    let (na, nb) = (&spec.nodes[a], &spec.nodes[b]);
                    diags.push(
                        Diagnostic::error(
                            "Unordered blocks for one object",
                            format!(
                                "`{}` and `{}` both manage {object}, but neither depends on the other, so their order is undefined. Add depends_on = [{}] to `{}`, or put them in stages of one rollout.",
                                na.address, nb.address, na.decl.local_address(), nb.address
                            ),
                        )
                        .at(Some(nb.decl.span.clone())),
                    );
                }
            }
        }
        diags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_and_topological_order() {
        let g = Graph::from_edges(4, &[(0, 1), (1, 2), (0, 3)]).unwrap();
        assert_eq!(g.topo_order(), &[0, 1, 2, 3]);
        assert_eq!((g.wave(0), g.wave(1), g.wave(2), g.wave(3)), (1, 2, 3, 2));
        assert_eq!(g.wave_count(), 3);
    }

    #[test]
    fn critical_path_follows_the_longest_chain() {
        let g = Graph::from_edges(4, &[(0, 1), (1, 2), (0, 3)]).unwrap();
        let d = [1, 2, 3, 10].map(Duration::from_secs);
        assert_eq!(g.critical_path(&d), (Duration::from_secs(11), vec![0, 3]));
    }

    #[test]
    fn cycles_are_reported_from_their_smallest_node_with_breaking_edges() {
        let cycles = Graph::from_edges(4, &[(2, 1), (1, 3), (3, 2), (0, 1)]).unwrap_err();
        assert_eq!(cycles, vec![vec![1, 3, 2]]);
    }
}
