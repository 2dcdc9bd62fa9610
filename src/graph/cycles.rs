//! Cycle detection with a deterministic report: the cycle's path starting at
//! its smallest address, and the edges whose removal breaks it.

use crate::spec::{Diagnostic, NodeId, SourceSpan, Spec};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{HashMap, HashSet};

/// One strongly connected component that is a cycle.
#[derive(Debug)]
pub struct Cycle {
    /// The path, first node repeated implicitly: a → b → c (→ a).
    pub nodes: Vec<NodeId>,
    /// Edges of the component whose removal alone makes it acyclic.
    pub breaking: Vec<(NodeId, NodeId)>,
}

/// Every cycle of `g`, one per strongly connected component, in a stable order.
pub fn find(g: &DiGraph<NodeId, ()>) -> Vec<Cycle> {
    let mut out = Vec::new();
    for scc in petgraph::algo::tarjan_scc(g) {
        let set: HashSet<NodeId> = scc.iter().map(|i| i.index()).collect();
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let start = *set.iter().min().expect("non-empty component");
        let succ = |n: NodeId| -> Vec<NodeId> {
            let mut v: Vec<NodeId> = g
                .neighbors(NodeIndex::new(n))
                .map(|i| i.index())
                .filter(|i| set.contains(i))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let nodes = path_back(start, &succ);
        let edges: Vec<(NodeId, NodeId)> = {
            let mut e: Vec<_> = set
                .iter()
                .flat_map(|&a| succ(a).into_iter().map(move |b| (a, b)))
                .collect();
            e.sort_unstable();
            e
        };
        let breaking = if edges.len() <= 200 {
            edges
                .iter()
                .copied()
                .filter(|&cut| acyclic_without(&set, &edges, cut))
                .collect()
        } else {
            Vec::new()
        };
        out.push(Cycle { nodes, breaking });
    }
    out.sort_by_key(|c| c.nodes[0]);
    out
}

/// The first path (successors in id order) from `start` back to itself.
fn path_back(start: NodeId, succ: &dyn Fn(NodeId) -> Vec<NodeId>) -> Vec<NodeId> {
    let mut stack = vec![(start, succ(start), 0usize)];
    let mut on_path: HashSet<NodeId> = HashSet::from([start]);
    while let Some((node, next, i)) = stack.last_mut() {
        if *i >= next.len() {
            on_path.remove(node);
            stack.pop();
            continue;
        }
        let n = next[*i];
        *i += 1;
        if n == start {
            return stack.iter().map(|(n, _, _)| *n).collect();
        }
        if on_path.insert(n) {
            let s = succ(n);
            stack.push((n, s, 0));
        }
    }
    vec![start]
}

fn acyclic_without(
    set: &HashSet<NodeId>,
    edges: &[(NodeId, NodeId)],
    cut: (NodeId, NodeId),
) -> bool {
    let mut indeg: HashMap<NodeId, usize> = set.iter().map(|&n| (n, 0)).collect();
    for &e in edges.iter().filter(|&&e| e != cut) {
        *indeg.entry(e.1).or_default() += 1;
    }
    let mut queue: Vec<NodeId> = indeg
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut seen = 0;
    while let Some(n) = queue.pop() {
        seen += 1;
        for &e in edges.iter().filter(|&&e| e != cut && e.0 == n) {
            let d = indeg.get_mut(&e.1).expect("edge inside the component");
            *d -= 1;
            if *d == 0 {
                queue.push(e.1);
            }
        }
    }
    seen == set.len()
}

impl Cycle {
    pub fn diagnostic(
        &self,
        spec: &Spec,
        spans: &HashMap<(NodeId, NodeId), SourceSpan>,
    ) -> Diagnostic {
        let addr = |n: NodeId| spec.nodes[n].address.as_str();
        let mut path: Vec<&str> = self.nodes.iter().map(|&n| addr(n)).collect();
        path.push(addr(self.nodes[0]));
        let edge_text = |(a, b): (NodeId, NodeId)| match spans.get(&(a, b)) {
            Some(s) => {
                let (l, c) = s.start();
                format!(
                    "{} → {} ({}:{l}:{c})",
                    addr(a),
                    addr(b),
                    s.path().file_name().unwrap_or_default().to_string_lossy()
                )
            }
            None => format!("{} → {}", addr(a), addr(b)),
        };
        let breaking = if self.breaking.is_empty() {
            "Several cycles overlap here; remove references until none remains.".to_string()
        } else {
            format!(
                "Removing any one of these dependencies breaks it: {}.",
                self.breaking
                    .iter()
                    .map(|&e| edge_text(e))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let first = (self.nodes[0], *self.nodes.get(1).unwrap_or(&self.nodes[0]));
        let span = spans
            .get(&first)
            .cloned()
            .unwrap_or_else(|| spec.nodes[self.nodes[0]].decl.span.clone());
        Diagnostic::error(
            "Dependency cycle",
            format!(
                "{} depend on each other: {}. {breaking}",
                if self.nodes.len() == 1 {
                    "A node and itself"
                } else {
                    "These nodes"
                },
                path.join(" → ")
            ),
        )
        .at(Some(span))
    }
}
