//! The passes that build a [`Graph`] from a [`Spec`], in order:
//!
//! 1. `collect_nodes` — one graph node per node instance;
//! 2. `reference_edges` — every reference in a node's body, followed through
//!    locals, module inputs and module outputs to the nodes it reads;
//! 3. `explicit_edges` — `depends_on` of nodes, rollouts and module calls;
//! 4. `stage_edges` — rollout order: stage k+1 after all of stage k, and
//!    within a stage the gates after the other blocks;
//! 5. `validate` — cycles, then waves and the topological order.

use super::{cycles, Graph};
use crate::spec::ast::{Body, Expr, NodeKind, Reference};
use crate::spec::resolve::Target;
use crate::spec::{Diagnostic, Diagnostics, Inst, Instances, NodeId, ScopeId, SourceSpan, Spec};
use petgraph::graph::DiGraph;
use std::collections::{HashMap, HashSet};

struct Builder<'s> {
    spec: &'s Spec,
    g: DiGraph<NodeId, ()>,
    edge_spans: HashMap<(NodeId, NodeId), SourceSpan>,
    seen: HashSet<(NodeId, NodeId)>,
    diags: Diagnostics,
    /// Nodes read through a local, module input or module output, memoised.
    value_deps: HashMap<(u8, ScopeId, String), Vec<NodeId>>,
    in_progress: HashSet<(u8, ScopeId, String)>,
}

pub fn build(spec: &Spec) -> Result<Graph, Diagnostics> {
    let mut b = Builder {
        spec,
        g: DiGraph::with_capacity(spec.nodes.len(), spec.nodes.len() * 2),
        edge_spans: HashMap::new(),
        seen: HashSet::new(),
        diags: Diagnostics::default(),
        value_deps: HashMap::new(),
        in_progress: HashSet::new(),
    };
    b.collect_nodes();
    b.reference_edges();
    b.explicit_edges();
    b.stage_edges();
    b.fleet_edges();
    b.validate()
}

/// A graph from plain edges, for tests and benchmarks.
pub fn from_edges(n: usize, edges: &[(NodeId, NodeId)]) -> Result<Graph, Vec<Vec<NodeId>>> {
    let mut g = DiGraph::with_capacity(n, edges.len());
    for i in 0..n {
        g.add_node(i);
    }
    for &(a, b) in edges {
        g.add_edge(Graph::ix(a), Graph::ix(b), ());
    }
    order(g).map_err(|g| cycles::find(&g).into_iter().map(|c| c.nodes).collect())
}

fn order(g: DiGraph<NodeId, ()>) -> Result<Graph, DiGraph<NodeId, ()>> {
    let n = g.node_count();
    // Kahn's algorithm with a min-heap: a stable topological order.
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<NodeId>> = vec![Vec::new(); n];
    for e in g.edge_indices() {
        if let Some((a, b)) = g.edge_endpoints(e) {
            indeg[b.index()] += 1;
            out[a.index()].push(b.index());
        }
    }
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<NodeId>> = (0..n)
        .filter(|i| indeg[*i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut topo = Vec::with_capacity(n);
    let mut waves = vec![1u32; n];
    while let Some(std::cmp::Reverse(a)) = heap.pop() {
        topo.push(a);
        for &b in &out[a] {
            waves[b] = waves[b].max(waves[a] + 1);
            indeg[b] -= 1;
            if indeg[b] == 0 {
                heap.push(std::cmp::Reverse(b));
            }
        }
    }
    if topo.len() != n {
        return Err(g);
    }
    Ok(Graph { g, topo, waves })
}

impl Builder<'_> {
    fn collect_nodes(&mut self) {
        for id in 0..self.spec.nodes.len() {
            self.g.add_node(id);
        }
    }

    fn edge(&mut self, from: NodeId, to: NodeId, span: &SourceSpan) {
        if from == to && self.seen.contains(&(from, to)) {
            return;
        }
        if self.seen.insert((from, to)) {
            self.g.add_edge(Graph::ix(from), Graph::ix(to), ());
            self.edge_spans.insert((from, to), span.clone());
        }
    }

    fn reference_edges(&mut self) {
        let spec = self.spec;
        for (id, node) in spec.nodes.iter().enumerate() {
            let mut refs = Vec::new();
            collect_refs(&node.decl.body, &mut refs, true);
            for r in refs {
                for dep in self.deps_of_ref(r, node.scope, &node.inst) {
                    self.edge(dep, id, &r.span);
                }
            }
        }
    }

    /// The nodes a reference reads, following locals and module values.
    fn deps_of_ref(&mut self, r: &Reference, scope: ScopeId, inst: &Inst) -> Vec<NodeId> {
        match self.spec.resolve(r, scope, inst) {
            Err(d) => {
                self.diags.push(d);
                Vec::new()
            }
            Ok(t) => self.deps_of_target(&t, r),
        }
    }

    fn deps_of_target(&mut self, t: &Target, r: &Reference) -> Vec<NodeId> {
        let spec = self.spec;
        match t {
            Target::Node { id, .. } => vec![*id],
            Target::Nodes { ids, .. } => ids.all(),
            Target::Stage | Target::Path | Target::Each | Target::Count => Vec::new(),
            Target::Var { scope, name } => match &spec.scopes[*scope].parent {
                None => Vec::new(),
                Some(parent) => match parent.call.inputs.iter().find(|a| &a.name == name) {
                    Some(a) => {
                        self.deps_of_expr(0, *scope, name, &a.value, parent.scope, &parent.inst)
                    }
                    None => Vec::new(),
                },
            },
            Target::Local { scope, name } => {
                let local = spec.scopes[*scope]
                    .source
                    .locals
                    .iter()
                    .find(|l| &l.name == name);
                match local {
                    Some(l) => self.deps_of_expr(1, *scope, name, &l.value, *scope, &Inst::NONE),
                    None => Vec::new(),
                }
            }
            Target::ModuleOutput { scope, name, .. } => {
                let out = spec.scopes[*scope]
                    .source
                    .outputs
                    .iter()
                    .find(|o| &o.name == name);
                match out {
                    Some(o) => self.deps_of_expr(2, *scope, name, &o.value, *scope, &Inst::NONE),
                    None => Vec::new(),
                }
            }
            Target::Module { scopes, .. } => {
                let mut deps = Vec::new();
                for s in scopes.all() {
                    for o in &spec.scopes[s].source.outputs {
                        deps.extend(self.deps_of_expr(2, s, &o.name, &o.value, s, &Inst::NONE));
                    }
                }
                deps
            }
            Target::Rollout { .. } => {
                self.diags.push(
                    Diagnostic::error(
                        "Invalid reference",
                        format!(
                            "`{}` names a group of nodes and can only be used in depends_on.",
                            r.display()
                        ),
                    )
                    .at(Some(r.span.clone())),
                );
                Vec::new()
            }
        }
    }

    fn deps_of_expr(
        &mut self,
        kind: u8,
        scope: ScopeId,
        name: &str,
        e: &Expr,
        eval_scope: ScopeId,
        eval_inst: &Inst,
    ) -> Vec<NodeId> {
        let key = (kind, scope, name.to_string());
        if let Some(v) = self.value_deps.get(&key) {
            return v.clone();
        }
        if !self.in_progress.insert(key.clone()) {
            let what = ["module input", "local", "output"][kind as usize];
            self.diags.push(
                Diagnostic::error(
                    "Cycle in values",
                    format!(
                        "The {what} `{name}` depends on itself through the values it references."
                    ),
                )
                .at(Some(e.span.clone())),
            );
            return Vec::new();
        }
        let mut deps = Vec::new();
        for r in &e.refs {
            deps.extend(self.deps_of_ref(r, eval_scope, eval_inst));
        }
        deps.sort_unstable();
        deps.dedup();
        self.in_progress.remove(&key);
        self.value_deps.insert(key, deps.clone());
        deps
    }

    /// The nodes named by a `depends_on` list written in `scope`.
    fn depends_on_targets(
        &mut self,
        e: &Expr,
        scope: ScopeId,
        inst: &Inst,
    ) -> Vec<(NodeId, SourceSpan)> {
        match &e.expr {
            // The loader keeps only the references of a list of bare
            // addresses, whose shape it checked.
            hcl::Expression::Null if !e.refs.is_empty() => {}
            hcl::Expression::Array(items) => {
                let bare = |i: &hcl::Expression| {
                    matches!(
                        i,
                        hcl::Expression::Traversal(_) | hcl::Expression::Variable(_)
                    )
                };
                if items.len() != e.refs.len() || !items.iter().all(bare) {
                    self.diags.push(
                        Diagnostic::error(
                            "Invalid depends_on",
                            "Each element of `depends_on` must be a bare address such as step.backup, gate.health, module.db or rollout.traffic.",
                        )
                        .at(Some(e.span.clone())),
                    );
                }
            }
            _ => {
                self.diags.push(
                    Diagnostic::error(
                        "Invalid depends_on",
                        "`depends_on` must be a list of addresses, as in [step.backup, rollout.traffic].",
                    )
                    .at(Some(e.span.clone())),
                );
                return Vec::new();
            }
        }
        let spec = self.spec;
        let mut out = Vec::new();
        for r in &e.refs {
            let t = match spec.resolve(r, scope, inst) {
                Ok(t) => t,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            let nodes: Vec<NodeId> = match t {
                Target::Node { id, .. } => vec![id],
                Target::Nodes { ids, .. } => ids.all(),
                Target::Module { scopes, .. } => module_nodes(spec, &scopes),
                // Every instance named: the whole rollout, or one key of it.
                Target::Rollout { scope, name } => spec.scopes[scope]
                    .rollouts
                    .iter()
                    .filter(|(id, ro)| **id == name || ro.name == name)
                    .flat_map(|(_, ro)| ro.stages.last().map(|st| st.all_nodes(spec)))
                    .flatten()
                    .collect(),
                other => self.deps_of_target(&other, r),
            };
            out.extend(nodes.into_iter().map(|n| (n, r.span.clone())));
        }
        out
    }

    fn explicit_edges(&mut self) {
        let spec = self.spec;
        for (id, node) in spec.nodes.iter().enumerate() {
            if let Some(a) = node.decl.body.attr("depends_on") {
                for (dep, span) in self.depends_on_targets(&a.value, node.scope, &node.inst) {
                    self.edge(dep, id, &span);
                }
            }
        }
        for (scope_id, scope) in spec.scopes.iter().enumerate() {
            for r in &scope.source.rollouts {
                let Some(dep) = &r.depends_on else { continue };
                for inst in scope.rollouts.values().filter(|ro| ro.name == r.name) {
                    let first = inst
                        .stages
                        .first()
                        .map(|st| st.all_nodes(spec))
                        .unwrap_or_default();
                    for (d, span) in self.depends_on_targets(dep, scope_id, &Inst::NONE) {
                        for &n in &first {
                            self.edge(d, n, &span);
                        }
                    }
                }
            }
            // A module call's `depends_on` holds for every node of each instance.
            let Some(parent) = &scope.parent else {
                continue;
            };
            let Some(dep) = &parent.call.depends_on else {
                continue;
            };
            for (d, span) in self.depends_on_targets(dep, parent.scope, &parent.inst) {
                for n in scope.all_nodes.clone() {
                    self.edge(d, n, &span);
                }
            }
        }
    }

    fn stage_edges(&mut self) {
        let spec = self.spec;
        for scope in &spec.scopes {
            for r in scope.rollouts.values() {
                let span = scope
                    .source
                    .rollouts
                    .iter()
                    .find(|d| d.name == r.name)
                    .map(|d| d.span.clone());
                let Some(span) = span else { continue };
                let mut prev: Vec<NodeId> = Vec::new();
                for stage in &r.stages {
                    let ids = stage.all_nodes(spec);
                    // The stage's own gates come last; a module's gates are its own business.
                    let own_gates: HashSet<NodeId> = stage
                        .nodes
                        .values()
                        .flat_map(Instances::all)
                        .filter(|&n| spec.nodes[n].decl.kind == NodeKind::Gate)
                        .collect();
                    let (gates, others): (Vec<NodeId>, Vec<NodeId>) =
                        ids.iter().partition(|n| own_gates.contains(n));
                    for &o in &others {
                        for &p in &prev {
                            self.edge(p, o, &span);
                        }
                    }
                    for &g in &gates {
                        let before = if others.is_empty() { &prev } else { &others };
                        for &o in before {
                            self.edge(o, g, &span);
                        }
                    }
                    prev = ids;
                }
            }
        }
    }

    /// A fleet's gates after batch k wait for every node of batch k's
    /// targets, and every node of batch k+1's targets waits for them.
    fn fleet_edges(&mut self) {
        let spec = self.spec;
        for f in &spec.fleets {
            for (k, gates) in f.gates.iter().enumerate() {
                for &g in gates {
                    let span = spec.nodes[g].decl.span.clone();
                    for t in &f.targets[f.batch(k)] {
                        for n in t.nodes.clone() {
                            self.edge(n, g, &span);
                        }
                    }
                    for t in &f.targets[f.batch(k + 1)] {
                        for n in t.nodes.clone() {
                            self.edge(g, n, &span);
                        }
                    }
                }
            }
        }
    }

    fn validate(mut self) -> Result<Graph, Diagnostics> {
        if self.diags.has_errors() {
            return Err(self.diags.sorted());
        }
        match order(self.g) {
            Ok(g) => Ok(g),
            Err(g) => {
                for c in cycles::find(&g) {
                    self.diags.push(c.diagnostic(self.spec, &self.edge_spans));
                }
                Err(self.diags.sorted())
            }
        }
    }
}

/// Every node of some module instances and the modules they call.
fn module_nodes(spec: &Spec, scopes: &Instances<ScopeId>) -> Vec<NodeId> {
    scopes
        .all()
        .into_iter()
        .flat_map(|s| spec.scopes[s].all_nodes.clone())
        .collect()
}

/// References in a node body that draw edges: every attribute's, nested
/// blocks (`rollback`, `retry`) included, except the top-level `depends_on`,
/// which `explicit_edges` handles.
fn collect_refs<'a>(body: &'a Body, out: &mut Vec<&'a Reference>, top: bool) {
    for a in &body.attrs {
        if top && matches!(a.name.as_str(), "depends_on" | "for_each" | "count") {
            continue;
        }
        out.extend(a.value.refs.iter());
    }
    // A fleet's settings and gates are not the node's: its gates are nodes of their own.
    for b in body.blocks.iter().filter(|b| b.kind != "fleet") {
        collect_refs(&b.body, out, false);
    }
}
