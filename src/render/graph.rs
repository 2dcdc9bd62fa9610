//! The dependency graph as Graphviz DOT or Mermaid.

use crate::graph::Graph;
use crate::plan::Plan;
use crate::spec::Spec;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Nodes (address, wave) and edges (dependency, dependent) by index.
pub struct GraphView {
    pub nodes: Vec<(String, u32)>,
    pub edges: Vec<(usize, usize)>,
}

impl GraphView {
    pub fn of_spec(spec: &Spec, graph: &Graph) -> GraphView {
        GraphView {
            nodes: spec
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.address.clone(), graph.wave(i)))
                .collect(),
            edges: graph.edges(),
        }
    }

    pub fn of_plan(plan: &Plan) -> GraphView {
        let ix: HashMap<&str, usize> = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.address.as_str(), i))
            .collect();
        let mut edges = Vec::new();
        for (i, n) in plan.nodes.iter().enumerate() {
            for d in &n.depends_on {
                if let Some(&j) = ix.get(d.as_str()) {
                    edges.push((j, i));
                }
            }
        }
        edges.sort_unstable();
        GraphView {
            nodes: plan
                .nodes
                .iter()
                .map(|n| (n.address.clone(), n.wave))
                .collect(),
            edges,
        }
    }

    pub fn dot(&self) -> String {
        let mut out = String::from("digraph cutover {\n  rankdir=LR;\n  node [shape=box];\n");
        let max = self.nodes.iter().map(|n| n.1).max().unwrap_or(0);
        for w in 1..=max {
            let _ = write!(out, "  subgraph wave_{w} {{ rank=same;");
            for (i, (_, wave)) in self.nodes.iter().enumerate() {
                if *wave == w {
                    let _ = write!(out, " n{i};");
                }
            }
            out.push_str(" }\n");
        }
        for (i, (addr, _)) in self.nodes.iter().enumerate() {
            let _ = writeln!(out, "  n{i} [label={addr:?}];");
        }
        for (a, b) in &self.edges {
            let _ = writeln!(out, "  n{a} -> n{b};");
        }
        out.push_str("}\n");
        out
    }

    pub fn mermaid(&self) -> String {
        let mut out = String::from("graph LR\n");
        for (i, (addr, wave)) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  n{i}[\"{} (wave {wave})\"]",
                addr.replace('"', "#quot;")
            );
        }
        for (a, b) in &self.edges {
            let _ = writeln!(out, "  n{a} --> n{b}");
        }
        out
    }
}

pub fn mermaid_of_plan(plan: &Plan) -> String {
    GraphView::of_plan(plan).mermaid()
}
