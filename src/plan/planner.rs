//! Making a plan: evaluate wave by wave (reading data sources as they become
//! evaluable), refresh resources and `done_when` checks concurrently, then
//! diff every node in topological order along the predicted-state chain.

use super::diff::{diff, predicted_after};
use super::evaluate::*;
use super::rollback::rollback_plan;
use super::*;
use crate::eval::{duration, to_json, Evaluated, Evaluator};
use crate::graph::Graph;
use crate::providers::schema::TypeSchema;
use crate::providers::{Attrs, CheckOutcome, ProviderError, Registry, RunVerdict};
use crate::spec::{Diagnostic, Diagnostics, NodeId, Spec};
use crate::state::{JsonText, Lockfile, NodeStatus};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// What the user asked of this plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// How many provider reads run at once.
    pub parallelism: usize,
    /// `-target` addresses: plan only these and what they depend on.
    pub targets: Vec<String>,
    /// `-exclude` addresses: leave these and everything that depends on them out.
    pub excludes: Vec<String>,
    /// `-replace` addresses: steps to run again although done.
    pub replace: Vec<String>,
    /// Salt for digests of sensitive values; the lockfile's lineage when there is one.
    pub lineage: Option<String>,
    /// The holder of the state's lock when an apply or rollback runs now
    /// ("apply by ops@host (pid 7) since …"): steps it started are running, not left by a crash.
    pub running: Option<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            parallelism: 10,
            targets: Vec::new(),
            excludes: Vec::new(),
            replace: Vec::new(),
            lineage: None,
            running: None,
        }
    }
}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Diagnostics(Diagnostics),
    #[error("refreshing {address} failed: {error}")]
    Refresh {
        address: String,
        error: ProviderError,
    },
}

/// A plan with what apply needs beside it.
pub struct Planned {
    pub plan: Plan,
    /// For each plan node, its spec node id (`None` for removed blocks).
    pub ids: Vec<Option<NodeId>>,
    /// Nodes included by `-target` (all when no target was given).
    pub included: Vec<bool>,
    /// Observed state of each resource before this plan (the first block of each object).
    pub observed: HashMap<NodeId, Option<Attrs>>,
    pub lineage: String,
    /// Steps left `started` by a crash that certainly did not complete (their
    /// provider says so): apply may run them again although not idempotent.
    pub rerun_safe: std::collections::HashSet<NodeId>,
    /// Steps whose process from the last apply is still running: apply waits for them.
    pub still_running: std::collections::HashSet<NodeId>,
    /// Steps that completed after the apply that ran them stopped: their outputs.
    pub recovered: HashMap<NodeId, Attrs>,
}

/// The plan of `spec` against the lockfile and the real systems, in five
/// phases: evaluate (reading data sources), group blocks by real object,
/// refresh, diff along the predicted-state chain, assemble.
pub async fn plan(
    spec: &Spec,
    graph: &Graph,
    registry: &Registry,
    lock: Option<&Lockfile>,
    opts: &PlanOptions,
) -> Result<Planned, PlanError> {
    evaluate(spec, graph, registry, lock, opts)
        .await?
        .finish(spec, graph, registry, lock, opts)
}

/// A plan's first three phases done: every node evaluated, every object
/// refreshed. Nothing in it borrows the spec, and the rest of the plan reads
/// no expression: the spec's syntax trees may go before [`Evaluation::finish`].
pub struct Evaluation {
    selection: Selection,
    evals: Vec<Option<Box<NodeEval>>>,
    objects: Objects,
    refreshed: Refreshed,
    outputs: BTreeMap<String, PlannedValue>,
    digests: BTreeMap<String, String>,
}

/// Phases one to three of [`plan`]: evaluate, group by object, refresh.
pub async fn evaluate(
    spec: &Spec,
    graph: &Graph,
    registry: &Registry,
    lock: Option<&Lockfile>,
    opts: &PlanOptions,
) -> Result<Evaluation, PlanError> {
    let selection = Selection::of(spec, graph, lock, opts)?;
    let p = Planning::new(spec, graph, registry, lock, opts, selection);
    let ev = Evaluator::new(spec);
    let mut digests = BTreeMap::new();
    let evals = p.evaluate(&ev, &mut digests).await?;
    let objects = p.objects(&evals)?;
    let refreshed = p.refresh(&evals, &objects, &mut digests).await?;
    let outputs = root_outputs(spec, &ev, &Values(&evals))?;
    Ok(Evaluation {
        selection: p.selection,
        evals,
        objects,
        refreshed,
        outputs,
        digests,
    })
}

impl Evaluation {
    /// Phases four and five of [`plan`]: diff and assemble, against the same
    /// spec (or the same spec with its syntax released), graph, lockfile and options.
    pub fn finish(
        self,
        spec: &Spec,
        graph: &Graph,
        registry: &Registry,
        lock: Option<&Lockfile>,
        opts: &PlanOptions,
    ) -> Result<Planned, PlanError> {
        let p = Planning::new(spec, graph, registry, lock, opts, self.selection);
        // The diff consumes the evaluations node by node: at 100,000 nodes they
        // and the planned nodes would otherwise be held twice over.
        let diffed = p.diff(self.evals, &self.objects, &self.refreshed);
        p.assemble(
            self.outputs,
            self.objects,
            self.refreshed,
            diffed,
            self.digests,
        )
    }
}

/// What a plan covers, decided once before it evaluates anything.
struct Selection {
    lineage: String,
    included: Vec<bool>,
    /// Nodes left out by `-exclude`.
    excluded: Vec<NodeId>,
}

impl Selection {
    /// The lineage (a new one without a lockfile) and the nodes `-target` and
    /// `-exclude` leave in; every address they and `-replace` name must exist.
    fn of(
        spec: &Spec,
        graph: &Graph,
        lock: Option<&Lockfile>,
        opts: &PlanOptions,
    ) -> Result<Selection, PlanError> {
        let lineage = opts
            .lineage
            .clone()
            .or_else(|| lock.map(|l| l.lineage.clone()))
            .unwrap_or_else(random_lineage);
        let (included, excluded) = select(spec, graph, &opts.targets, &opts.excludes)?;
        check_replace(spec, &opts.replace)?;
        Ok(Selection {
            lineage,
            included,
            excluded,
        })
    }
}

/// What every phase of one plan reads.
struct Planning<'a> {
    spec: &'a Spec,
    graph: &'a Graph,
    registry: &'a Registry,
    lock: Option<&'a Lockfile>,
    opts: &'a PlanOptions,
    selection: Selection,
    schemas: Vec<Option<&'a TypeSchema>>,
    /// How long each node took the last time it ran, from the run history.
    recorded: BTreeMap<&'a str, u64>,
}

/// Which resource blocks name the same real object, in topological order.
/// (Keys are shared: a resource's key is in both maps.)
struct Objects {
    members: BTreeMap<Arc<str>, Vec<NodeId>>,
    of: HashMap<NodeId, Arc<str>>,
}

/// What the refresh phase found.
#[derive(Default)]
struct Refreshed {
    observed: HashMap<NodeId, Option<Attrs>>,
    done_checks: HashMap<NodeId, CheckOutcome>,
    interrupted: HashMap<NodeId, RunVerdict>,
    remaining: HashMap<NodeId, Option<f64>>,
    dry_runs: HashMap<NodeId, String>,
}

/// The diff phase's result: planned nodes (with their spec ids) and durations.
struct Diffed {
    nodes: Vec<PlannedNode>,
    ids: Vec<Option<NodeId>>,
    durations: Vec<Duration>,
}

/// The predicted state of each object along the chain of blocks that manage it.
#[derive(Default)]
struct Chain {
    predicted: HashMap<String, Option<Attrs>>,
    /// Per object: are all its blocks so far applied? Then it is where they left it.
    applied: HashMap<String, bool>,
}

impl<'a> Planning<'a> {
    fn new(
        spec: &'a Spec,
        graph: &'a Graph,
        registry: &'a Registry,
        lock: Option<&'a Lockfile>,
        opts: &'a PlanOptions,
        selection: Selection,
    ) -> Planning<'a> {
        let schemas = spec
            .nodes
            .iter()
            .map(|nd| registry.schema(nd.decl.kind, &nd.decl.type_name))
            .collect();
        Planning {
            spec,
            graph,
            registry,
            lock,
            opts,
            selection,
            schemas,
            recorded: lock
                .map(|l| crate::state::history::recorded_durations(&l.history))
                .unwrap_or_default(),
        }
    }

    fn lock_state(&self, id: NodeId) -> Option<&'a crate::state::NodeState> {
        self.lock
            .and_then(|l| l.nodes.get(&self.spec.nodes[id].address))
    }

    /// Phase 1: evaluate wave by wave; data sources are read as soon as their wave is evaluated.
    async fn evaluate(
        &self,
        ev: &Evaluator<'_>,
        digests: &mut BTreeMap<String, String>,
    ) -> Result<Vec<Option<Box<NodeEval>>>, PlanError> {
        let (spec, graph) = (self.spec, self.graph);
        let mut diags = Diagnostics::default();
        let mut evals: Vec<Option<Box<NodeEval>>> = vec![None; spec.nodes.len()];
        let mut by_wave: Vec<Vec<NodeId>> = vec![Vec::new(); graph.wave_count() as usize + 1];
        for &id in graph.topo_order() {
            if self.selection.included[id] {
                by_wave[graph.wave(id) as usize].push(id);
            }
        }
        for wave in &by_wave {
            let mut reads = Vec::new();
            for &id in wave {
                let node = &spec.nodes[id];
                let mut ne =
                    evaluate_node(spec, ev, &Values(&evals), id, self.registry, &mut diags);
                if node.decl.kind == NodeKind::Step {
                    if let Some(st) = self.lock_state(id) {
                        if st.status == NodeStatus::Done {
                            ne.outputs = Some(st.outputs_json());
                        }
                    }
                }
                if node.decl.kind == NodeKind::Data && ne.attrs.values().all(Evaluated::is_known) {
                    reads.push((id, known_attrs(&ne)));
                }
                evals[id] = Some(Box::new(ne));
            }
            let results = run_bounded(self.opts.parallelism, reads, |(id, attrs)| {
                let node = &spec.nodes[id];
                let p = self
                    .registry
                    .provider(node.decl.kind, &node.decl.type_name)
                    .cloned();
                let t = node.decl.type_name.clone();
                async move {
                    let Some(p) = p else { return (id, Ok(None)) };
                    (id, p.read(NodeKind::Data, &t, &attrs).await)
                }
            })
            .await;
            for (id, r) in results {
                let address = spec.nodes[id].address.clone();
                let out = r.map_err(|source| PlanError::Refresh {
                    address: address.clone(),
                    error: source,
                })?;
                digests.insert(
                    address,
                    digest_json(&serde_json::to_value(&out).unwrap_or_default()),
                );
                if let Some(ne) = evals[id].as_mut() {
                    let out = out.unwrap_or_default();
                    ne.remember_sensitive(&out);
                    ne.outputs = Some(JsonText::of(&out));
                }
            }
        }
        if diags.has_errors() {
            return Err(PlanError::Diagnostics(diags.sorted()));
        }
        Ok(evals)
    }

    /// The reads of many resources of one type, through the provider's
    /// `read_many` where it has one (a list per namespace, not a read each);
    /// returns what they found and the probes still to run one by one.
    async fn read_in_batches(
        &self,
        evals: &[Option<Box<NodeEval>>],
        probes: Vec<(NodeId, Probe)>,
    ) -> (
        Vec<(NodeId, Result<Found, ProviderError>)>,
        Vec<(NodeId, Probe)>,
    ) {
        let mut by_type: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
        let mut rest = Vec::new();
        let batched = |type_name: &str| {
            self.registry
                .provider(NodeKind::Resource, type_name)
                .is_some_and(|p| p.reads_many(type_name))
        };
        for (id, probe) in probes {
            let type_name = self.spec.nodes[id].decl.type_name.as_str();
            match probe {
                Probe::Identity if batched(type_name) => {
                    by_type.entry(type_name).or_default().push(id)
                }
                other => rest.push((id, other)),
            }
        }
        let mut found = Vec::new();
        for (type_name, ids) in by_type {
            let single = ids.len() == 1;
            // In chunks: 50,000 identities held at once cost more than the calls saved.
            for chunk in ids.chunks(READ_MANY_CHUNK) {
                let attrs: Vec<Attrs> = chunk.iter().map(|&id| self.identity(evals, id)).collect();
                let batch = match self.registry.provider(NodeKind::Resource, type_name) {
                    Some(p) if !single => p.read_many(NodeKind::Resource, type_name, &attrs).await,
                    _ => Vec::new(),
                };
                let mut batch = batch.into_iter();
                for (&id, a) in chunk.iter().zip(attrs) {
                    match batch.next().flatten() {
                        Some(r) => found.push((id, r.map(Found::Object))),
                        None => rest.push((id, Probe::Read(a))),
                    }
                }
            }
        }
        (found, rest)
    }

    /// The identity attributes a resource is read by, from its evaluation.
    fn identity(&self, evals: &[Option<Box<NodeEval>>], id: NodeId) -> Attrs {
        identity_attrs(self.schemas[id], evals[id].as_ref().expect("evaluated"))
    }

    /// `probe`, a resource's identity gathered if it is one to read.
    fn gathered(&self, evals: &[Option<Box<NodeEval>>], id: NodeId, probe: Probe) -> Probe {
        match probe {
            Probe::Identity => Probe::Read(self.identity(evals, id)),
            probe => probe,
        }
    }

    /// Phase 2: which resource blocks name the same real object; they must be ordered.
    fn objects(&self, evals: &[Option<Box<NodeEval>>]) -> Result<Objects, PlanError> {
        let mut members: BTreeMap<Arc<str>, Vec<NodeId>> = BTreeMap::new();
        let mut of: HashMap<NodeId, Arc<str>> = HashMap::new();
        for &id in self.graph.topo_order() {
            let (Some(ne), Some(schema)) = (&evals[id], self.schemas[id]) else {
                continue;
            };
            if self.spec.nodes[id].decl.kind != NodeKind::Resource {
                continue;
            }
            if let Some(key) = object_key(schema, ne) {
                let key: Arc<str> = key.into();
                members.entry(Arc::clone(&key)).or_default().push(id);
                of.insert(id, key);
            }
        }
        let groups: Vec<(String, Vec<NodeId>)> = members
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let order_diags = self.graph.check_same_object(self.spec, &groups);
        if order_diags.has_errors() {
            return Err(PlanError::Diagnostics(order_diags.sorted()));
        }
        Ok(Objects { members, of })
    }

    /// The probes of one step: its done_when, dry run, remaining rows, and
    /// whether the run the last apply left behind completed.
    fn step_probes(&self, id: NodeId, ne: &NodeEval, out: &mut Vec<(NodeId, Probe)>) {
        if !ne.attrs.values().all(Evaluated::is_known) {
            return;
        }
        let node = &self.spec.nodes[id];
        let lock_state = self.lock_state(id);
        let lock_done = lock_state.is_some_and(|s| s.status == NodeStatus::Done);
        // Checked even when the lockfile says done: a done_when that no longer holds is drift.
        if let Some(Some(dw)) = ne.attrs.get("done_when").map(|e| e.val.as_ref()) {
            out.push((id, Probe::DoneWhen(known_attrs(ne), to_json(dw))));
        }
        // A data step's dry run, shown in the plan while it has not run.
        if let (Some(how), false) = (ne.value("dry_run"), lock_done) {
            out.push((id, Probe::DryRun(known_attrs(ne), to_json(how))));
        }
        let repeat = ne.value("repeat").and_then(|v| v.as_object());
        if let (Some(probe), false) = (repeat.and_then(|r| r.get("remaining")), lock_done) {
            out.push((id, Probe::Remaining(known_attrs(ne), to_json(probe))));
        }
        // A step the last apply left running: ask its provider whether it completed.
        // A loop left part-way resumes where it stopped: `until` decides.
        let started = lock_state
            .filter(|s| matches!(s.status, NodeStatus::Started | NodeStatus::Interrupted));
        if let (Some(s), Some(l), None) = (started, self.lock, repeat) {
            let run = crate::providers::run_id(
                &l.lineage,
                &node.address,
                s.started_at.as_deref().unwrap_or(""),
            );
            out.push((id, Probe::Interrupted(known_attrs(ne), run)));
        }
    }

    /// Phase 3: read the first block of every object, and probe every step, concurrently.
    async fn refresh(
        &self,
        evals: &[Option<Box<NodeEval>>],
        objects: &Objects,
        digests: &mut BTreeMap<String, String>,
    ) -> Result<Refreshed, PlanError> {
        let spec = self.spec;
        let mut reads = Vec::new();
        for ids in objects.members.values() {
            let id = ids[0];
            reads.push((id, Probe::Identity));
        }
        for &id in self.graph.topo_order() {
            if self.selection.included[id] && spec.nodes[id].decl.kind == NodeKind::Step {
                self.step_probes(id, evals[id].as_ref().expect("evaluated"), &mut reads);
            }
        }
        let (mut results, reads) = self.read_in_batches(evals, reads).await;
        results.extend(
            run_bounded(self.opts.parallelism, reads, |(id, probe)| {
                let probe = self.gathered(evals, id, probe);
                let node = &spec.nodes[id];
                let p = self
                    .registry
                    .provider(node.decl.kind, &node.decl.type_name)
                    .cloned();
                let (kind, t) = (node.decl.kind, node.decl.type_name.clone());
                async move {
                    let Some(p) = p else {
                        return (id, Ok(Found::Object(None)));
                    };
                    (id, probe.run(p.as_ref(), kind, &t).await)
                }
            })
            .await,
        );
        let mut r = Refreshed::default();
        for (id, found) in results {
            let address = spec.nodes[id].address.clone();
            match found.map_err(|source| PlanError::Refresh {
                address: address.clone(),
                error: source,
            })? {
                Found::Object(o) => {
                    digests.insert(
                        address,
                        digest_json(&serde_json::to_value(&o).unwrap_or_default()),
                    );
                    r.observed.insert(id, o);
                }
                Found::Check(c) => {
                    digests.insert(address, digest_json(&serde_json::json!(c.holds)));
                    r.done_checks.insert(id, c);
                }
                Found::Interrupted(verdict) => {
                    r.interrupted.insert(id, verdict);
                }
                Found::Remaining(x) => {
                    r.remaining.insert(id, x);
                }
                Found::DryRun(shown) => {
                    r.dry_runs.insert(id, shown);
                }
            }
        }
        Ok(r)
    }

    /// Whether node `id`'s schema marks attribute `name` as a secret.
    fn sensitive_attr(&self, id: NodeId, name: &str) -> bool {
        self.schemas[id].is_some_and(|s| s.is_sensitive(name))
    }

    fn attributes_of(&self, evals: &[Option<Box<NodeEval>>], id: NodeId) -> Attributes {
        let ne = evals[id].as_ref().expect("evaluated");
        let schema = self.schemas[id];
        ne.attrs
            .iter()
            .map(|(k, v)| {
                let sensitive = schema.is_some_and(|s| s.is_sensitive(k));
                (k.clone(), planned(v, sensitive))
            })
            .collect()
    }

    /// Phase 4: diff every node in topological order along the predicted-state chain.
    fn diff(
        &self,
        mut evals: Vec<Option<Box<NodeEval>>>,
        objects: &Objects,
        found: &Refreshed,
    ) -> Diffed {
        let (spec, graph, n) = (self.spec, self.graph, self.spec.nodes.len());
        // Digests first: whether the next block of an object is already applied decides this one's diff.
        let mut digests: Vec<Option<String>> = (0..n)
            .map(|id| {
                let ne = evals[id].as_ref().filter(|_| self.selection.included[id])?;
                let sensitive = |k: &str| self.sensitive_attr(id, k);
                Some(node_digest(
                    digest_entries(&ne.attrs, sensitive),
                    ne.rollback.as_ref(),
                    &self.selection.lineage,
                ))
            })
            .collect();
        let mut chain = Chain::default();
        let mut out = Diffed {
            nodes: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            durations: vec![Duration::ZERO; n],
        };
        for &id in graph.topo_order() {
            if !self.selection.included[id] {
                continue;
            }
            let node = &spec.nodes[id];
            let attributes = self.attributes_of(&evals, id);
            let ne = &evals[id].take().expect("evaluated");
            let lock_state = self.lock_state(id);
            let digest = digests[id].as_deref().unwrap_or_default();
            let object = objects.of.get(&id).cloned();
            let mut follows = None;
            let (action, reason, changes) = match node.decl.kind {
                NodeKind::Resource => {
                    let applied = |m: NodeId| {
                        self.lock_state(m).is_some_and(|s| {
                            s.status == NodeStatus::Done && Some(&s.digest) == digests[m].as_ref()
                        })
                    };
                    let desired: Attributes = attributes
                        .iter()
                        .filter(|(k, _)| ne.schema_attrs().contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if let Some(key) = &object {
                        let members = &objects.members[key];
                        let pos = members.iter().position(|m| *m == id).unwrap_or(0);
                        follows = pos
                            .checked_sub(1)
                            .map(|p| spec.nodes[members[p]].address.clone());
                    }
                    let here = ResourceHere {
                        id,
                        desired: &desired,
                        digest,
                        follows: follows.as_deref(),
                    };
                    self.resource_change(
                        here,
                        object.as_deref(),
                        objects,
                        found,
                        &mut chain,
                        &applied,
                    )
                }
                NodeKind::Step => self.step_change(id, ne, &attributes, digest, found),
                NodeKind::Gate => {
                    let (a, r) = gate_action(node, ne, lock_state, digest);
                    (a, r, Vec::new())
                }
                NodeKind::Data => {
                    let (a, r) = match &ne.outputs {
                        Some(_) => (Action::NoChange, "read at plan time".to_string()),
                        None => (
                            Action::Run,
                            "read during apply: its arguments are known only then".to_string(),
                        ),
                    };
                    (a, r, Vec::new())
                }
            };
            let recorded = self
                .recorded
                .get(node.address.as_str())
                .map(|ms| Duration::from_millis(*ms));
            let (duration, source) = node_duration(node, ne, lock_state, recorded);
            out.durations[id] = duration;
            out.nodes.push(self.planned_node(
                id,
                ne,
                Verdict {
                    action,
                    reason,
                    attributes,
                    changes,
                    object: object.as_deref().map(str::to_string),
                    follows,
                    // Read again only for later blocks of an object, never for this one.
                    digest: digests[id].take().unwrap_or_default(),
                },
                (duration, source),
            ));
            out.ids.push(Some(id));
        }
        out
    }

    /// The diff of one resource block against what the blocks before it on
    /// the same object leave (or what was observed, for the first).
    fn resource_change(
        &self,
        here: ResourceHere,
        object: Option<&str>,
        objects: &Objects,
        found: &Refreshed,
        chain: &mut Chain,
        applied: &dyn Fn(NodeId) -> bool,
    ) -> (Action, String, Vec<AttrChange>) {
        let id = here.id;
        let sensitive_attr = |name: &str| self.sensitive_attr(id, name);
        let Some(key) = object else {
            let changes = diff(here.desired, None, sensitive_attr);
            return (
                Action::Create,
                "the object's identity is known only after apply; it will be read then".to_string(),
                changes,
            );
        };
        let members = &objects.members[key];
        let pos = members.iter().position(|m| *m == id).unwrap_or(0);
        let now = found.observed.get(&members[0]).and_then(Option::as_ref);
        let all_before = *chain.applied.get(key).unwrap_or(&true);
        // What the chain remembers is read only by a later block of the same object.
        let later = pos + 1 < members.len();
        if later {
            chain
                .applied
                .insert(key.to_string(), all_before && applied(id));
        }
        let lock_state = self.lock_state(id);
        if all_before && applied(id) && members.get(pos + 1).is_some_and(|m| applied(*m)) {
            // A later block of this object is applied too: this one's work is behind it.
            let when = at(lock_state.and_then(|s| s.finished_at.as_deref()));
            return (Action::NoChange, format!("applied{when}"), Vec::new());
        }
        if all_before && applied(id) {
            // The last applied block: the object should still be as it left it.
            let changes = diff(here.desired, now, sensitive_attr);
            if later {
                chain.predicted.insert(key.to_string(), now.cloned());
            }
            let (a, r) = resource_action(
                now.is_none(),
                &changes,
                None,
                Some((NodeStatus::Done, true)),
            );
            return (a, r, changes);
        }
        // Taken: only this block's successor reads it, and it is put back for it.
        let predicted = chain.predicted.remove(key);
        let prior = match &predicted {
            Some(p) => p.as_ref(),
            None => now,
        };
        let changes = diff(here.desired, prior, sensitive_attr);
        if later {
            chain
                .predicted
                .insert(key.to_string(), predicted_after(here.desired, prior));
        }
        let (a, r) = resource_action(
            prior.is_none(),
            &changes,
            here.follows,
            lock_state.map(|s| (s.status, s.digest == here.digest)),
        );
        (a, r, changes)
    }

    /// Whether a step runs, and what changed since it ran.
    fn step_change(
        &self,
        id: NodeId,
        ne: &NodeEval,
        attributes: &Attributes,
        digest: &str,
        found: &Refreshed,
    ) -> (Action, String, Vec<AttrChange>) {
        let node = &self.spec.nodes[id];
        let lock_state = self.lock_state(id);
        let (action, reason) = step_action(
            node.address.as_str(),
            lock_state,
            digest,
            &self.opts.replace,
            found.done_checks.get(&id),
            found.interrupted.get(&id),
        );
        let (action, mut reason) = match ne.value("repeat") {
            Some(_) => loop_action(action, reason, lock_state, found.remaining.get(&id)),
            None => (action, reason),
        };
        let started = lock_state
            .filter(|s| s.status == NodeStatus::Started)
            .map(|s| s.started_at.as_deref().unwrap_or("?"));
        if let (Some(since), Some(holder)) = (started, &self.opts.running) {
            reason = format!("running now (since {since}) in the {holder}");
        }
        if let (Action::Run, Some(shown)) = (action, found.dry_runs.get(&id)) {
            reason.push_str(&format!("; dry run: {shown}"));
        }
        let mut changes = Vec::new();
        // A changed step shows what changed against the definition it ran with.
        let ran = lock_state.and_then(|s| s.applied.as_ref());
        if let (Action::Changed | Action::Run, Some(mut before)) =
            (action, ran.and_then(JsonText::object))
        {
            if lock_state.is_some_and(|s| s.digest != digest) {
                for (k, v) in attributes.iter().filter(|(_, v)| v.sensitive) {
                    if let Some(cur) = &v.value {
                        if before.get(k) == Some(&sensitive_digest(cur, &self.selection.lineage)) {
                            before.insert(k.clone(), cur.clone());
                        }
                    }
                }
                let sensitive_attr = |name: &str| self.sensitive_attr(id, name);
                changes = diff(attributes, Some(&before), sensitive_attr);
            }
        }
        (action, reason, changes)
    }

    fn planned_node(
        &self,
        id: NodeId,
        ne: &NodeEval,
        v: Verdict,
        (duration, source): (Duration, Option<DurationSource>),
    ) -> PlannedNode {
        let node = &self.spec.nodes[id];
        let rollback = ne.rollback.as_ref().map(|rb| {
            Box::new(
                rb.iter()
                    .map(|(k, v)| (k.clone(), planned(v, false)))
                    .collect(),
            )
        });
        let irreversible = ne.rollback.is_none() && ne.lifecycle().irreversible;
        PlannedNode {
            address: node.address.clone(),
            kind: node.decl.kind,
            type_name: node.decl.type_name.clone(),
            wave: self.graph.wave(id),
            depends_on: self
                .graph
                .dependencies(id)
                .into_iter()
                .filter(|d| self.selection.included[*d])
                .map(|d| self.spec.nodes[d].address.clone())
                .collect(),
            action: v.action,
            reason: v.reason,
            attributes: v.attributes,
            changes: v.changes,
            rollback,
            irreversible,
            object: v.object,
            follows: v.follows,
            stage: node.inst.stage.as_ref().map(|s| {
                Box::new(StageInfo {
                    rollout: s.rollout.clone(),
                    index: s.index,
                    value: to_json(&s.value),
                })
            }),
            expected_duration_ms: (duration > Duration::ZERO)
                .then_some(duration.as_millis() as u64),
            duration_source: source.filter(|_| duration > Duration::ZERO),
            digest: v.digest,
        }
    }

    /// Phase 5: the critical path, outputs, rollback plan, summary and fingerprint.
    fn assemble(
        self,
        outputs: BTreeMap<String, PlannedValue>,
        objects: Objects,
        found: Refreshed,
        diffed: Diffed,
        digests: BTreeMap<String, String>,
    ) -> Result<Planned, PlanError> {
        let (spec, lock) = (self.spec, self.lock);
        let Diffed {
            mut nodes,
            mut ids,
            durations,
        } = diffed;
        let partial = !self.opts.targets.is_empty() || !self.opts.excludes.is_empty();
        removed_blocks(spec, lock, partial, &mut nodes, &mut ids);
        let (cp_total, cp_nodes) = self.graph.critical_path(&durations);
        let critical_path = CriticalPath {
            duration_ms: cp_total.as_millis() as u64,
            nodes: cp_nodes
                .into_iter()
                .filter(|n| self.selection.included[*n] && durations[*n] > Duration::ZERO)
                .map(|n| spec.nodes[n].address.clone())
                .collect(),
        };
        let rollback = rollback_plan(
            &nodes,
            &observed_absent(&nodes, &ids, &found.observed, &objects.of),
        );
        let summary = summarize(&nodes);
        let mut fp = Sha256::new();
        fp.update(spec.digest.as_bytes());
        for n in &nodes {
            fp.update(n.address.as_bytes());
            fp.update(n.digest.as_bytes());
        }
        for (k, v) in &digests {
            fp.update(k.as_bytes());
            fp.update(v.as_bytes());
        }
        fp.update(lock.map(|l| l.serial).unwrap_or(0).to_le_bytes());
        let plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            cutover_version: env!("CARGO_PKG_VERSION").to_string(),
            migration: spec.settings.name.clone(),
            description: spec.settings.description.clone(),
            directory: None,
            on_failure: spec.settings.on_failure,
            spec_digest: spec.digest.clone(),
            lineage: self.selection.lineage.clone(),
            lockfile_serial: lock.map(|l| l.serial),
            targets: self.opts.targets.clone(),
            excludes: self.opts.excludes.clone(),
            excluded: self
                .selection
                .excluded
                .iter()
                .map(|&id| spec.nodes[id].address.clone())
                .collect(),
            waves: nodes.iter().map(|n| n.wave).max().unwrap_or(0),
            nodes,
            critical_path,
            rollback,
            fleets: spec.fleets.iter().map(super::PlannedFleet::of).collect(),
            outputs,
            summary,
            observed: digests,
            fingerprint: hex::encode(fp.finalize()),
        };
        let verdicts = |f: fn(&RunVerdict) -> bool| {
            found
                .interrupted
                .iter()
                .filter(|(_, v)| f(v))
                .map(|(id, _)| *id)
                .collect()
        };
        let rerun_safe = verdicts(|v| matches!(v, RunVerdict::NotCompleted(_)));
        let still_running = verdicts(|v| matches!(v, RunVerdict::Running(_)));
        let recovered = found
            .interrupted
            .iter()
            .filter_map(|(id, v)| match v {
                RunVerdict::Completed { outputs, .. } => Some((*id, outputs.clone())),
                _ => None,
            })
            .collect();
        Ok(Planned {
            plan,
            ids,
            included: self.selection.included,
            observed: found.observed,
            lineage: self.selection.lineage,
            rerun_safe,
            still_running,
            recovered,
        })
    }
}

/// One resource block being diffed.
struct ResourceHere<'d> {
    id: NodeId,
    desired: &'d Attributes,
    digest: &'d str,
    follows: Option<&'d str>,
}

/// What the diff decided for one node.
struct Verdict {
    action: Action,
    reason: String,
    attributes: Attributes,
    changes: Vec<AttrChange>,
    object: Option<String>,
    follows: Option<String>,
    digest: String,
}

/// A gate: done when it passed with this definition; otherwise checked (or waited on, for an approval).
fn gate_action(
    node: &crate::spec::NodeInstance,
    ne: &NodeEval,
    lock_state: Option<&crate::state::NodeState>,
    digest: &str,
) -> (Action, String) {
    match lock_state {
        Some(s) if s.status == NodeStatus::Done && s.digest == digest => (
            Action::Done,
            format!("passed{}", at(s.finished_at.as_deref())),
        ),
        _ if node.decl.type_name == crate::providers::approval::TYPE => (
            Action::Check,
            gate_reason(
                ne,
                &format!(
                    "waits for `cutover approve {}`",
                    crate::addr::shell(&node.address)
                ),
            ),
        ),
        _ => (Action::Check, gate_reason(ne, "will poll until it holds")),
    }
}

/// Evaluates every node without reading anything (`validate`): expression
/// errors, type errors and unordered blocks of one object.
pub fn check(spec: &Spec, graph: &Graph, registry: &Registry) -> Diagnostics {
    let ev = Evaluator::new(spec);
    let mut diags = Diagnostics::default();
    let mut evals: Vec<Option<Box<NodeEval>>> = vec![None; spec.nodes.len()];
    let mut objects: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
    for &id in graph.topo_order() {
        let node = &spec.nodes[id];
        let schema = registry.schema(node.decl.kind, &node.decl.type_name);
        let ne = evaluate_node(spec, &ev, &Values(&evals), id, registry, &mut diags);
        if let (NodeKind::Resource, Some(s)) = (node.decl.kind, schema) {
            if let Some(key) = object_key(s, &ne) {
                objects.entry(key).or_default().push(id);
            }
        }
        evals[id] = Some(Box::new(ne));
    }
    let groups: Vec<(String, Vec<NodeId>)> =
        objects.into_iter().filter(|(_, v)| v.len() > 1).collect();
    diags.extend(graph.check_same_object(spec, &groups));
    if let Err(PlanError::Diagnostics(d)) = root_outputs(spec, &ev, &Values(&evals)) {
        diags.extend(d);
    }
    diags.sorted()
}

enum Probe {
    /// Read a resource by its identity, gathered when the read starts (the
    /// arguments of 50,000 reads held at once cost 55 MB).
    Identity,
    Read(Attrs),
    DoneWhen(Attrs, serde_json::Value),
    Interrupted(Attrs, String),
    Remaining(Attrs, serde_json::Value),
    DryRun(Attrs, serde_json::Value),
}

/// What one probe found.
enum Found {
    Object(Option<Attrs>),
    Check(CheckOutcome),
    Interrupted(RunVerdict),
    Remaining(Option<f64>),
    DryRun(String),
}

impl Probe {
    async fn run(
        self,
        p: &dyn crate::providers::Provider,
        kind: NodeKind,
        t: &str,
    ) -> Result<Found, ProviderError> {
        match self {
            Probe::Read(attrs) => p.read(kind, t, &attrs).await.map(Found::Object),
            // `Planning::gathered` turns every one into a read before it runs;
            // never answer "absent" for an object nobody read.
            Probe::Identity => Err(ProviderError::failed(
                "internal error: a read ran before its identity was gathered",
            )),
            Probe::DoneWhen(attrs, dw) => p.step_done(t, &attrs, &dw).await.map(Found::Check),
            Probe::Interrupted(attrs, run) => {
                p.interrupted(t, &attrs, &run).await.map(Found::Interrupted)
            }
            // Unreadable now (a table not created yet): the plan says so, nothing fails.
            Probe::Remaining(attrs, probe) => {
                Ok(Found::Remaining(p.measure(t, &attrs, &probe).await.ok()))
            }
            // A dry run that fails is shown, not fatal: the plan still stands.
            Probe::DryRun(attrs, how) => {
                Ok(Found::DryRun(match p.dry_run(t, &attrs, &how).await {
                    Ok(shown) => shown,
                    Err(e) => format!("failed: {e}"),
                }))
            }
        }
    }
}

/// How many objects of one type a provider's `read_many` is given at a time.
const READ_MANY_CHUNK: usize = 2048;

/// Runs `f` over `items` with at most `limit` futures in flight; results in input order.
async fn run_bounded<I, F, Fut, T>(limit: usize, items: Vec<I>, f: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    if items.is_empty() {
        return Vec::new();
    }
    // At most `limit` tasks exist at a time: 50,000 probes spawned at once
    // held 64 MB of futures waiting for a permit.
    let mut queue = items.into_iter().enumerate();
    let mut set = tokio::task::JoinSet::new();
    let mut spawn_next = |set: &mut tokio::task::JoinSet<(usize, T)>| {
        if let Some((i, item)) = queue.next() {
            let fut = f(item);
            set.spawn(async move { (i, fut.await) });
        }
    };
    for _ in 0..limit.max(1) {
        spawn_next(&mut set);
    }
    let mut out: Vec<(usize, T)> = Vec::new();
    while let Some(r) = set.join_next().await {
        spawn_next(&mut set);
        if let Ok(x) = r {
            out.push(x);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// `-replace` addresses must name nodes, as `-target` addresses must.
fn check_replace(spec: &Spec, replace: &[String]) -> Result<(), PlanError> {
    let mut diags = Diagnostics::default();
    for r in replace.iter().filter(|r| spec.node_by_address(r).is_none()) {
        diags.push(unknown_address("-replace", r, spec));
    }
    if diags.has_errors() {
        return Err(PlanError::Diagnostics(diags));
    }
    Ok(())
}

fn unknown_address(flag: &str, address: &str, spec: &Spec) -> Diagnostic {
    let hint = crate::spec::diagnostic::did_you_mean(
        address,
        spec.nodes.iter().map(|n| n.address.as_str()),
    )
    .map(|s| format!(" Did you mean {s}?"))
    .unwrap_or_default();
    Diagnostic::error(
        format!("Invalid {} address", flag.trim_start_matches('-')),
        format!("{flag} {address}: no node has this address.{hint}"),
    )
}

/// The nodes a plan covers: with `-target`, the targets and what they depend
/// on; less every `-exclude` node and everything that depends on it (the
/// second value: those left out by `-exclude`, in spec order).
fn select(
    spec: &Spec,
    graph: &Graph,
    targets: &[String],
    excludes: &[String],
) -> Result<(Vec<bool>, Vec<NodeId>), PlanError> {
    let mut diags = Diagnostics::default();
    let mut matching = |flag: &str, addrs: &[String]| -> Vec<NodeId> {
        let mut roots = Vec::new();
        for t in addrs {
            let matched: Vec<NodeId> = spec
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| crate::addr::contains(t, &n.address))
                .map(|(i, _)| i)
                .collect();
            if matched.is_empty() {
                diags.push(unknown_address(flag, t, spec));
            }
            roots.extend(matched);
        }
        roots
    };
    let target_roots = matching("-target", targets);
    let exclude_roots = matching("-exclude", excludes);
    if diags.has_errors() {
        return Err(PlanError::Diagnostics(diags));
    }
    let mut included = if targets.is_empty() {
        vec![true; spec.nodes.len()]
    } else {
        graph.with_dependencies(&target_roots)
    };
    let mut out = graph.dependents_of(&exclude_roots);
    for id in exclude_roots {
        out[id] = true;
    }
    let mut excluded = Vec::new();
    for (id, left_out) in out.into_iter().enumerate() {
        if left_out && included[id] {
            included[id] = false;
            excluded.push(id);
        }
    }
    Ok((included, excluded))
}

fn at(t: Option<&str>) -> String {
    t.map(|t| format!(" at {t}")).unwrap_or_default()
}

fn resource_action(
    absent: bool,
    changes: &[AttrChange],
    follows: Option<&str>,
    lock: Option<(NodeStatus, bool)>,
) -> (Action, String) {
    let from = follows.map(|f| format!(" after {f}")).unwrap_or_default();
    if absent {
        return (
            Action::Create,
            if follows.is_some() {
                format!("the object is created by an earlier block{from}")
            } else {
                "the object does not exist".into()
            },
        );
    }
    if changes.is_empty() {
        let why = match lock {
            Some((NodeStatus::Done, true)) => "matches the state applied".to_string(),
            _ => format!("the object already matches{from}"),
        };
        return (Action::NoChange, why);
    }
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    let what = format!(
        "{} {}",
        names.join(", "),
        if names.len() == 1 {
            "differs"
        } else {
            "differ"
        }
    );
    let why = match lock {
        Some((NodeStatus::Done, true)) => {
            format!("{what}: changed outside cutover since it was applied")
        }
        _ if follows.is_some() => format!("{what}{from}"),
        _ => what,
    };
    (Action::Update, why)
}

fn step_action(
    address: &str,
    lock: Option<&crate::state::NodeState>,
    digest: &str,
    replace: &[String],
    done: Option<&CheckOutcome>,
    verdict: Option<&RunVerdict>,
) -> (Action, String) {
    if replace.iter().any(|r| r == address) {
        return (Action::Run, "replacement requested with -replace".into());
    }
    if let Some(s) = lock {
        match s.status {
            NodeStatus::Done if s.digest == digest => {
                return match done {
                    Some(c) if !c.holds => (Action::Run, format!("drift: recorded as done{}, but its done_when no longer holds ({}); will run again", at(s.finished_at.as_deref()), c.measured)),
                    _ => (Action::Done, format!("applied{}", at(s.finished_at.as_deref()))),
                }
            }
            NodeStatus::Done => {
                return (Action::Changed, format!("its definition changed since it was applied{}; run with -replace {address} to run it again", at(s.finished_at.as_deref())))
            }
            _ if done.is_some_and(|c| c.holds) => {}
            NodeStatus::Started | NodeStatus::Interrupted => return verdict_action(verdict),
            NodeStatus::Failed => return (Action::Run, "failed in the last apply; will run again".into()),
            NodeStatus::RolledBack => return (Action::Run, "rolled back; will run again".into()),
            NodeStatus::Invalidated => {
                let why = s.error.as_deref().unwrap_or("something it depends on was rolled back");
                return (Action::Run, format!("{why} since it ran; will run again"));
            }
            NodeStatus::Pending | NodeStatus::Skipped => {}
        }
    }
    match done {
        Some(c) if c.holds => (Action::Done, format!("done_when holds ({})", c.measured)),
        Some(c) => (
            Action::Run,
            format!("done_when does not hold yet ({})", c.measured),
        ),
        None => (Action::Run, "not yet run".into()),
    }
}

/// A repeating step: a loop left part-way resumes (`until` decides where);
/// one that will run says it repeats, and how much `remaining` reads now.
fn loop_action(
    action: Action,
    reason: String,
    lock: Option<&crate::state::NodeState>,
    remaining: Option<&Option<f64>>,
) -> (Action, String) {
    if action != Action::Run {
        return (action, reason);
    }
    let left = match remaining {
        Some(Some(r)) => format!("; {r} remaining now"),
        Some(None) => "; remaining cannot be read now".into(),
        None => String::new(),
    };
    let part_way =
        lock.filter(|s| matches!(s.status, NodeStatus::Started | NodeStatus::Interrupted));
    match part_way {
        Some(s) => {
            let p = s.progress.clone().unwrap_or_default();
            (
                Action::Run,
                format!(
                    "stopped part-way after {} iterations ({} rows); the loop resumes where it stopped, as `until` decides{left}",
                    p.iterations, p.rows
                ),
            )
        }
        None => (
            Action::Run,
            format!("{reason}; repeats in batches until done{left}"),
        ),
    }
}

/// What to do with a step a crash or an interrupt left running, by what its provider says.
fn verdict_action(verdict: Option<&RunVerdict>) -> (Action, String) {
    match verdict {
        Some(RunVerdict::Completed { why, .. }) => (
            Action::Done,
            format!("interrupted, but {why}; recorded as done"),
        ),
        Some(RunVerdict::NotCompleted(why)) => (
            Action::Run,
            format!("interrupted, and {why}; will run again"),
        ),
        Some(RunVerdict::Running(why)) => (
            Action::Run,
            format!("interrupted: {why}; apply waits for it and records how it ended"),
        ),
        Some(RunVerdict::Unknown(why)) => (
            Action::Run,
            format!("interrupted during the last apply: {why}"),
        ),
        None => (Action::Run, "interrupted during the last apply".into()),
    }
}

/// What a gate will do: `waits` (how it holds), then its bake time, interval,
/// timeout and failure limit.
fn gate_reason(ne: &NodeEval, waits: &str) -> String {
    // As written (`1m`, `200ms`), not as parsed: the plan quotes the spec.
    let s = |k: &str| ne.value(k).and_then(|v| v.as_str());
    let mut r = waits.to_string();
    if let Some(f) = s("for") {
        r.push_str(&format!(" continuously for {f}"));
    }
    if let Some(i) = s("interval") {
        r.push_str(&format!(", every {i}"));
    }
    if let Some(t) = s("timeout") {
        r.push_str(&format!(", failing after {t}"));
    }
    if let Some(n) = ne.lifecycle().failure_limit {
        r.push_str(&format!(" or after {n} failed measurements in a row"));
    }
    r
}

/// How long a node is expected to take, and where that figure comes from:
/// declared (`expected_duration`, a wait's `duration`, a gate's `for`), an
/// approval's `timeout` as an upper bound, or recorded in earlier runs.
fn node_duration(
    node: &crate::spec::NodeInstance,
    ne: &NodeEval,
    lock: Option<&crate::state::NodeState>,
    recorded: Option<Duration>,
) -> (Duration, Option<DurationSource>) {
    let declared = |d: Duration| (d, Some(DurationSource::Declared));
    let (kind, type_name) = (node.decl.kind, node.decl.type_name.as_str());
    if let Some(x) = ne.lifecycle().expected_duration {
        return declared(x);
    }
    if kind == NodeKind::Step && type_name == "wait" {
        let d = ne
            .value("duration")
            .and_then(|v| v.as_str())
            .and_then(|s| duration::parse(s).ok());
        if let Some(x) = d {
            return declared(x);
        }
    }
    if let (NodeKind::Gate, "approval", Some(t)) = (kind, type_name, ne.lifecycle().timeout) {
        return (t, Some(DurationSource::UpperBound));
    }
    if let (NodeKind::Gate, Some(x)) = (kind, ne.lifecycle().hold) {
        return declared(x);
    }
    let from_lock = lock.and_then(|s| {
        let a = chrono::DateTime::parse_from_rfc3339(s.started_at.as_deref()?).ok()?;
        let b = chrono::DateTime::parse_from_rfc3339(s.finished_at.as_deref()?).ok()?;
        (b - a).to_std().ok()
    });
    match recorded.or(from_lock) {
        Some(d) => (d, Some(DurationSource::Recorded)),
        None => (Duration::ZERO, None),
    }
}

/// Resources recorded in the lockfile whose blocks are gone: restore them.
fn removed_blocks(
    spec: &Spec,
    lock: Option<&Lockfile>,
    partial: bool,
    nodes: &mut Vec<PlannedNode>,
    ids: &mut Vec<Option<NodeId>>,
) {
    let Some(lock) = lock else { return };
    if partial {
        return;
    }
    // A set, not a search of the spec per lockfile entry (quadratic at 100,000 nodes).
    let in_spec: std::collections::HashSet<&str> =
        spec.nodes.iter().map(|n| n.address.as_str()).collect();
    for (address, st) in &lock.nodes {
        if st.kind.as_deref() != Some("resource")
            || st.status != NodeStatus::Done
            || in_spec.contains(address.as_str())
        {
            continue;
        }
        let absent = st.prior.as_ref().is_none_or(JsonText::is_null);
        nodes.push(PlannedNode {
            address: address.clone(),
            kind: NodeKind::Resource,
            type_name: st.type_name.clone().unwrap_or_default(),
            wave: 1,
            depends_on: Vec::new(),
            action: Action::Delete,
            reason: if absent {
                "its block was removed from the spec; the object it created is removed".into()
            } else {
                "its block was removed from the spec; the object is restored to its state before the migration".into()
            },
            attributes: Attributes::new(),
            changes: Vec::new(),
            rollback: None,
            irreversible: false,
            object: None,
            follows: None,
            stage: None,
            expected_duration_ms: None,
            duration_source: None,
            digest: st.digest.clone(),
        });
        ids.push(None);
    }
}

/// For each planned resource that opens its object's chain: was the object absent before?
fn observed_absent<'n>(
    nodes: &'n [PlannedNode],
    ids: &[Option<NodeId>],
    observed: &HashMap<NodeId, Option<Attrs>>,
    object_of: &HashMap<NodeId, Arc<str>>,
) -> HashMap<&'n str, bool> {
    let mut first_absent: HashMap<&str, bool> = HashMap::new();
    for id in ids.iter().flatten() {
        if let (Some(key), Some(o)) = (object_of.get(id), observed.get(id)) {
            first_absent.entry(key).or_insert(o.is_none());
        }
    }
    nodes
        .iter()
        .filter_map(|n| {
            let key = n.object.as_deref()?;
            Some((
                n.address.as_str(),
                first_absent.get(key).copied().unwrap_or(true),
            ))
        })
        .collect()
}

fn summarize(nodes: &[PlannedNode]) -> Summary {
    let mut s = Summary::default();
    for n in nodes {
        match n.action {
            Action::Create => s.create += 1,
            Action::Update => s.update += 1,
            Action::Delete => s.delete += 1,
            Action::Run => s.run += 1,
            Action::Check => s.check += 1,
            Action::Done => s.done += 1,
            Action::Changed => s.changed += 1,
            Action::NoChange => s.unchanged += 1,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::VarInputs;
    use std::path::Path;

    /// The plan of `dir`, whole or with the spec's syntax released between
    /// evaluation and diff (as `cutover plan` does), as JSON.
    fn planned(dir: &Path, release: bool) -> serde_json::Value {
        let (mut spec, graph, reg) =
            crate::compile(dir, &VarInputs::default()).expect("the fixture compiles");
        let opts = PlanOptions {
            lineage: Some("fixed".into()),
            ..PlanOptions::default()
        };
        let rt = tokio::runtime::Runtime::new().expect("a runtime");
        let evaluated = rt
            .block_on(evaluate(&spec, &graph, &reg, None, &opts))
            .expect("the fixture plans");
        if release {
            spec.release_syntax();
        }
        let planned = evaluated.finish(&spec, &graph, &reg, None, &opts);
        serde_json::to_value(planned.expect("the fixture plans").plan).expect("JSON")
    }

    #[test]
    fn a_plan_after_the_syntax_is_released_is_the_same_plan() {
        // Rollbacks and a point of no return in a rollout; a fleet of module
        // instances. (The instances fixture reads files relative to the
        // directory `cutover` runs in, which a unit test does not change.)
        for fixture in ["rollout3", "fleet"] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(fixture);
            let (whole, released) = (planned(&dir, false), planned(&dir, true));
            assert_eq!(whole, released, "{fixture}");
            assert!(
                whole["nodes"].as_array().is_some_and(|n| n.len() > 3),
                "{fixture}"
            );
        }
    }
}
