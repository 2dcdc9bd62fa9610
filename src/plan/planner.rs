//! Making a plan: evaluate wave by wave (reading data sources as they become
//! evaluable), refresh resources and `done_when` checks concurrently, then
//! diff every node in topological order along the predicted-state chain.

use super::diff::{diff, predicted_after};
use super::rollback::rollback_plan;
use super::*;
use crate::eval::{duration, to_json, Evaluated, Evaluator, NodeValues};
use crate::graph::Graph;
use crate::providers::schema::{common_attrs, type_error, TypeSchema};
use crate::providers::{Attrs, CheckOutcome, ProviderError, Registry};
use crate::spec::ast::Body;
use crate::spec::{Diagnostic, Diagnostics, NodeId, Spec};
use crate::state::{Lockfile, NodeStatus};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What the user asked of this plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// How many provider reads run at once.
    pub parallelism: usize,
    /// `-target` addresses: plan only these and what they depend on.
    pub targets: Vec<String>,
    /// `-replace` addresses: steps to run again although done.
    pub replace: Vec<String>,
    /// Salt for digests of sensitive values; the lockfile's lineage when there is one.
    pub lineage: Option<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { parallelism: 10, targets: Vec::new(), replace: Vec::new(), lineage: None }
    }
}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Diagnostics(Diagnostics),
    #[error("refreshing {address} failed: {source}")]
    Refresh { address: String, source: ProviderError },
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
}

type EvalMap = indexmap::IndexMap<String, Evaluated>;

/// Evaluated values of one node.
#[derive(Debug, Clone, Default)]
struct NodeEval {
    attrs: EvalMap,
    rollback: Option<EvalMap>,
    /// Known outputs (done steps, read data sources); `None`: known after apply.
    outputs: Option<Attrs>,
    output_names: Vec<&'static str>,
    schema_attrs: Vec<&'static str>,
}

struct Values<'a>(&'a [Option<NodeEval>]);

impl NodeValues for Values<'_> {
    fn attr(&self, id: NodeId, attr: &str) -> Option<Evaluated> {
        // A node left out by -target is not evaluated: its values are unknown.
        let Some(ne) = self.0.get(id)?.as_ref() else {
            return Some(Evaluated::unknown());
        };
        if let Some(v) = ne.attrs.get(attr) {
            return Some(v.clone());
        }
        if let Some(v) = ne.outputs.as_ref().and_then(|o| o.get(attr)) {
            return Some(Evaluated::known(crate::eval::from_json(v)));
        }
        if ne.output_names.contains(&attr) {
            return Some(Evaluated::unknown());
        }
        if ne.schema_attrs.contains(&attr) {
            return Some(Evaluated::known(hcl::Value::Null));
        }
        None
    }

    fn object(&self, id: NodeId) -> Evaluated {
        let Some(ne) = self.0.get(id).and_then(Option::as_ref) else {
            return Evaluated::unknown();
        };
        let mut m = hcl::Map::new();
        let mut sensitive = false;
        for (k, v) in &ne.attrs {
            sensitive |= v.sensitive;
            match &v.val {
                Some(x) => m.insert(k.clone(), x.clone()),
                None => return Evaluated { val: None, sensitive },
            };
        }
        match &ne.outputs {
            Some(o) => {
                for (k, v) in o {
                    m.insert(k.clone(), crate::eval::from_json(v));
                }
            }
            None if !ne.output_names.is_empty() => return Evaluated { val: None, sensitive },
            None => {}
        }
        Evaluated { val: Some(hcl::Value::Object(m)), sensitive }
    }
}

fn random_lineage() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    if buf == [0u8; 16] {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        buf[..16].copy_from_slice(&t.as_nanos().to_le_bytes());
    }
    hex::encode(buf)
}

/// The plan of `spec` against the lockfile and the real systems.
pub async fn plan(spec: &Spec, graph: &Graph, registry: &Registry, lock: Option<&Lockfile>, opts: &PlanOptions) -> Result<Planned, PlanError> {
    let lineage = opts
        .lineage
        .clone()
        .or_else(|| lock.map(|l| l.lineage.clone()))
        .unwrap_or_else(random_lineage);
    let included = select_targets(spec, graph, &opts.targets)?;
    let ev = Evaluator::new(spec);
    let mut diags = Diagnostics::default();
    let n = spec.nodes.len();
    let mut evals: Vec<Option<NodeEval>> = vec![None; n];
    let schemas: Vec<Option<&TypeSchema>> = spec.nodes.iter().map(|nd| registry.schema(nd.decl.kind, &nd.decl.type_name)).collect();
    let mut observed_digests: BTreeMap<String, String> = BTreeMap::new();

    // Evaluate wave by wave; data sources are read as soon as their wave is evaluated.
    let mut by_wave: Vec<Vec<NodeId>> = vec![Vec::new(); graph.wave_count() as usize + 1];
    for &id in graph.topo_order() {
        if included[id] {
            by_wave[graph.wave(id) as usize].push(id);
        }
    }
    for wave in &by_wave {
        let mut reads = Vec::new();
        for &id in wave {
            let node = &spec.nodes[id];
            let mut ne = evaluate_node(spec, &ev, &Values(&evals), id, schemas[id], &mut diags);
            if node.decl.kind == NodeKind::Step {
                if let Some(st) = lock.and_then(|l| l.nodes.get(&node.address)) {
                    if st.status == NodeStatus::Done {
                        ne.outputs = Some(st.outputs.clone());
                    }
                }
            }
            if node.decl.kind == NodeKind::Data && ne.attrs.values().all(Evaluated::is_known) {
                reads.push((id, known_attrs(&ne)));
            }
            evals[id] = Some(ne);
        }
        let results = run_bounded(opts.parallelism, reads, |(id, attrs)| {
            let node = &spec.nodes[id];
            let p = registry.provider(node.decl.kind, &node.decl.type_name).cloned();
            let t = node.decl.type_name.clone();
            async move {
                let Some(p) = p else { return (id, Ok(None)) };
                (id, p.read(NodeKind::Data, &t, &attrs).await)
            }
        })
        .await;
        for (id, r) in results {
            let address = spec.nodes[id].address.clone();
            let out = r.map_err(|source| PlanError::Refresh { address: address.clone(), source })?;
            observed_digests.insert(address, digest_json(&serde_json::to_value(&out).unwrap_or_default()));
            if let Some(ne) = evals[id].as_mut() {
                ne.outputs = Some(out.unwrap_or_default());
            }
        }
    }
    if diags.has_errors() {
        return Err(PlanError::Diagnostics(diags.sorted()));
    }

    // Objects: which resource blocks name the same real object, in topological order.
    let mut objects: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
    let mut object_of: HashMap<NodeId, String> = HashMap::new();
    for &id in graph.topo_order() {
        let (Some(ne), Some(schema)) = (&evals[id], schemas[id]) else { continue };
        if spec.nodes[id].decl.kind != NodeKind::Resource {
            continue;
        }
        if let Some(key) = object_key(schema, ne) {
            objects.entry(key.clone()).or_default().push(id);
            object_of.insert(id, key);
        }
    }
    let groups: Vec<(String, Vec<NodeId>)> = objects.iter().filter(|(_, v)| v.len() > 1).map(|(k, v)| (k.clone(), v.clone())).collect();
    let order_diags = graph.check_same_object(spec, &groups);
    if order_diags.has_errors() {
        return Err(PlanError::Diagnostics(order_diags.sorted()));
    }

    // Refresh: first block of every object, and every step's done_when, concurrently.
    let mut reads = Vec::new();
    for ids in objects.values() {
        let id = ids[0];
        let ne = evals[id].as_ref().expect("evaluated");
        reads.push((id, Probe::Read(identity_attrs(schemas[id], ne))));
    }
    for &id in graph.topo_order() {
        let node = &spec.nodes[id];
        if !included[id] || node.decl.kind != NodeKind::Step {
            continue;
        }
        let ne = evals[id].as_ref().expect("evaluated");
        let lock_done = lock.and_then(|l| l.nodes.get(&node.address)).is_some_and(|s| s.status == NodeStatus::Done);
        if let (false, Some(Some(dw))) = (lock_done, ne.attrs.get("done_when").map(|e| e.val.as_ref())) {
            if ne.attrs.values().all(Evaluated::is_known) {
                reads.push((id, Probe::DoneWhen(known_attrs(ne), to_json(dw))));
            }
        }
    }
    let results = run_bounded(opts.parallelism, reads, |(id, probe)| {
        let node = &spec.nodes[id];
        let p = registry.provider(node.decl.kind, &node.decl.type_name).cloned();
        let (kind, t) = (node.decl.kind, node.decl.type_name.clone());
        async move {
            let Some(p) = p else { return (id, Ok(Refreshed::Object(None))) };
            let r = match probe {
                Probe::Read(attrs) => p.read(kind, &t, &attrs).await.map(Refreshed::Object),
                Probe::DoneWhen(attrs, dw) => p.step_done(&t, &attrs, &dw).await.map(Refreshed::Check),
            };
            (id, r)
        }
    })
    .await;
    let mut observed: HashMap<NodeId, Option<Attrs>> = HashMap::new();
    let mut done_checks: HashMap<NodeId, CheckOutcome> = HashMap::new();
    for (id, r) in results {
        let address = spec.nodes[id].address.clone();
        match r.map_err(|source| PlanError::Refresh { address: address.clone(), source })? {
            Refreshed::Object(o) => {
                observed_digests.insert(address, digest_json(&serde_json::to_value(&o).unwrap_or_default()));
                observed.insert(id, o);
            }
            Refreshed::Check(c) => {
                observed_digests.insert(address, digest_json(&serde_json::json!(c.holds)));
                done_checks.insert(id, c);
            }
        }
    }

    // Diff in topological order along the predicted-state chain.
    let mut predicted: HashMap<String, Option<Attrs>> = HashMap::new();
    let mut nodes = Vec::new();
    let mut ids = Vec::new();
    let mut durations = vec![Duration::ZERO; n];
    let mut prev_on_object: HashMap<String, String> = HashMap::new();
    for &id in graph.topo_order() {
        if !included[id] {
            continue;
        }
        let node = &spec.nodes[id];
        let ne = evals[id].as_ref().expect("evaluated");
        let schema = schemas[id];
        let lock_state = lock.and_then(|l| l.nodes.get(&node.address));
        let sensitive_attr = |name: &str| schema.and_then(|s| s.attr(name)).is_some_and(|a| a.sensitive);
        let attributes: Attributes = ne
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), planned(v, sensitive_attr(k))))
            .collect();
        let digest = node_digest(&attributes, ne.rollback.as_ref(), &lineage);
        let mut changes = Vec::new();
        let mut follows = None;
        let object = object_of.get(&id).cloned();
        let (action, reason) = match node.decl.kind {
            NodeKind::Resource => {
                let desired: Attributes = attributes
                    .iter()
                    .filter(|(k, _)| ne.schema_attrs.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                match &object {
                    None => {
                        changes = diff(&desired, None, sensitive_attr);
                        (Action::Create, "the object's identity is known only after apply; it will be read then".to_string())
                    }
                    Some(key) => {
                        follows = prev_on_object.insert(key.clone(), node.address.clone());
                        let prior = match predicted.get(key) {
                            Some(p) => p.clone(),
                            None => observed.get(&id).cloned().flatten(),
                        };
                        changes = diff(&desired, prior.as_ref(), sensitive_attr);
                        predicted.insert(key.clone(), predicted_after(&desired, prior.as_ref()));
                        resource_action(prior.is_none(), &changes, follows.as_deref(), lock_state.map(|s| (s.status, s.digest == digest)))
                    }
                }
            }
            NodeKind::Step => step_action(node.address.as_str(), lock_state, &digest, &opts.replace, done_checks.get(&id)),
            NodeKind::Gate => match lock_state {
                Some(s) if s.status == NodeStatus::Done && s.digest == digest => {
                    (Action::Done, format!("passed{}", at(s.finished_at.as_deref())))
                }
                _ => (Action::Check, gate_reason(ne)),
            },
            NodeKind::Data => match &ne.outputs {
                Some(_) => (Action::NoChange, "read at plan time".to_string()),
                None => (Action::Run, "read during apply: its arguments are known only then".to_string()),
            },
        };
        durations[id] = node_duration(node.decl.kind, &node.decl.type_name, ne, lock_state);
        let rollback = ne
            .rollback
            .as_ref()
            .map(|rb| rb.iter().map(|(k, v)| (k.clone(), planned(v, false))).collect());
        let irreversible = node.decl.body.block("rollback").is_none()
            && ne.attrs.get("irreversible").and_then(|e| e.val.as_ref()).and_then(|v| v.as_bool()) == Some(true);
        nodes.push(PlannedNode {
            address: node.address.clone(),
            kind: node.decl.kind,
            type_name: node.decl.type_name.clone(),
            wave: graph.wave(id),
            depends_on: graph.dependencies(id).into_iter().filter(|d| included[*d]).map(|d| spec.nodes[d].address.clone()).collect(),
            action,
            reason,
            attributes,
            changes,
            rollback,
            irreversible,
            object,
            follows,
            stage: node.stage.as_ref().map(|s| StageInfo { rollout: s.rollout.clone(), index: s.index, value: to_json(&s.value) }),
            expected_duration_ms: (durations[id] > Duration::ZERO).then(|| durations[id].as_millis() as u64),
            digest,
        });
        ids.push(Some(id));
    }
    removed_blocks(spec, lock, &opts.targets, &mut nodes, &mut ids);

    let (cp_total, cp_nodes) = graph.critical_path(&durations);
    let critical_path = CriticalPath {
        duration_ms: cp_total.as_millis() as u64,
        nodes: cp_nodes.into_iter().filter(|n| included[*n] && durations[*n] > Duration::ZERO).map(|n| spec.nodes[n].address.clone()).collect(),
    };
    let outputs = root_outputs(spec, &ev, &Values(&evals))?;
    let rollback = rollback_plan(&nodes, &observed_absent(&nodes, &ids, &observed, &object_of));
    let summary = summarize(&nodes);
    let mut fp = Sha256::new();
    fp.update(spec.digest.as_bytes());
    for n in &nodes {
        fp.update(n.address.as_bytes());
        fp.update(n.digest.as_bytes());
    }
    for (k, v) in &observed_digests {
        fp.update(k.as_bytes());
        fp.update(v.as_bytes());
    }
    fp.update(lock.map(|l| l.serial).unwrap_or(0).to_le_bytes());
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        cutover_version: env!("CARGO_PKG_VERSION").to_string(),
        migration: spec.settings.name.clone(),
        description: spec.settings.description.clone(),
        on_failure: spec.settings.on_failure,
        spec_digest: spec.digest.clone(),
        lineage: lineage.clone(),
        lockfile_serial: lock.map(|l| l.serial),
        targets: opts.targets.clone(),
        waves: nodes.iter().map(|n| n.wave).max().unwrap_or(0),
        nodes,
        critical_path,
        rollback,
        outputs,
        summary,
        observed: observed_digests,
        fingerprint: hex::encode(fp.finalize()),
    };
    Ok(Planned { plan, ids, included, observed, lineage })
}

/// Evaluates every node without reading anything (`validate`): expression
/// errors, type errors and unordered blocks of one object.
pub fn check(spec: &Spec, graph: &Graph, registry: &Registry) -> Diagnostics {
    let ev = Evaluator::new(spec);
    let mut diags = Diagnostics::default();
    let mut evals: Vec<Option<NodeEval>> = vec![None; spec.nodes.len()];
    let mut objects: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
    for &id in graph.topo_order() {
        let node = &spec.nodes[id];
        let schema = registry.schema(node.decl.kind, &node.decl.type_name);
        let ne = evaluate_node(spec, &ev, &Values(&evals), id, schema, &mut diags);
        if let (NodeKind::Resource, Some(s)) = (node.decl.kind, schema) {
            if let Some(key) = object_key(s, &ne) {
                objects.entry(key).or_default().push(id);
            }
        }
        evals[id] = Some(ne);
    }
    let groups: Vec<(String, Vec<NodeId>)> = objects.into_iter().filter(|(_, v)| v.len() > 1).collect();
    diags.extend(graph.check_same_object(spec, &groups));
    if let Err(PlanError::Diagnostics(d)) = root_outputs(spec, &ev, &Values(&evals)) {
        diags.extend(d);
    }
    diags.sorted()
}

enum Probe {
    Read(Attrs),
    DoneWhen(Attrs, serde_json::Value),
}

enum Refreshed {
    Object(Option<Attrs>),
    Check(CheckOutcome),
}

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
    let sem = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let fut = f(item);
        let sem = Arc::clone(&sem);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, fut.await)
        });
    }
    let mut out: Vec<(usize, T)> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(x) = r {
            out.push(x);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

fn select_targets(spec: &Spec, graph: &Graph, targets: &[String]) -> Result<Vec<bool>, PlanError> {
    if targets.is_empty() {
        return Ok(vec![true; spec.nodes.len()]);
    }
    let mut roots = Vec::new();
    let mut diags = Diagnostics::default();
    for t in targets {
        let matched: Vec<NodeId> = spec
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.address == *t || n.address.starts_with(&format!("{t}.")) || n.address.starts_with(&format!("{t}[")))
            .map(|(i, _)| i)
            .collect();
        if matched.is_empty() {
            let hint = crate::spec::diagnostic::did_you_mean(t, spec.nodes.iter().map(|n| n.address.as_str()))
                .map(|s| format!(" Did you mean {s}?"))
                .unwrap_or_default();
            diags.push(Diagnostic::error("Invalid target address", format!("-target {t}: no node has this address.{hint}")));
        }
        roots.extend(matched);
    }
    if diags.has_errors() {
        return Err(PlanError::Diagnostics(diags));
    }
    Ok(graph.with_dependencies(&roots))
}

fn evaluate_body(spec: &Spec, ev: &Evaluator, values: &Values, id: NodeId, body: &Body, skip: &[&str], diags: &mut Diagnostics) -> EvalMap {
    let node = &spec.nodes[id];
    let mut out = EvalMap::with_capacity(body.attrs.len());
    for a in &body.attrs {
        if skip.contains(&a.name.as_str()) {
            continue;
        }
        match ev.eval(&a.value, node.scope, node.stage.as_ref(), values) {
            Ok(v) => {
                out.insert(a.name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    out.sort_keys();
    out
}

fn evaluate_node(spec: &Spec, ev: &Evaluator, values: &Values, id: NodeId, schema: Option<&TypeSchema>, diags: &mut Diagnostics) -> NodeEval {
    let node = &spec.nodes[id];
    let body = &node.decl.body;
    let mut attrs = evaluate_body(spec, ev, values, id, body, &["depends_on"], diags);
    for b in body.blocks.iter().filter(|b| b.kind == "retry") {
        let retry = evaluate_body(spec, ev, values, id, &b.body, &[], diags);
        let obj: hcl::Map<String, hcl::Value> = retry.into_iter().filter_map(|(k, v)| v.val.map(|x| (k, x))).collect();
        attrs.insert("retry".into(), Evaluated::known(hcl::Value::Object(obj)));
        attrs.sort_keys();
    }
    let rollback = body.block("rollback").map(|b| evaluate_body(spec, ev, values, id, &b.body, &[], diags));
    let mut ne = NodeEval { attrs, rollback, outputs: None, output_names: Vec::new(), schema_attrs: Vec::new() };
    if let Some(schema) = schema {
        ne.output_names = schema.outputs.clone();
        ne.schema_attrs = schema.attrs.iter().map(|a| a.name).collect();
        let common = common_attrs(node.decl.kind);
        for a in &body.attrs {
            let Some(Some(v)) = ne.attrs.get(&a.name).map(|e| e.val.as_ref()) else { continue };
            let ty = schema.attr(&a.name).or_else(|| common.iter().find(|c| c.name == a.name)).map(|s| s.ty);
            if let Some(Err(e)) = ty.map(|t| t.check(v)) {
                diags.push(type_error(&a.value, &a.name, &e));
            }
        }
        if let (Some(rb_schema), Some(rb_block)) = (&schema.rollback, body.block("rollback")) {
            for a in &rb_block.body.attrs {
                let Some(Some(v)) = ne.rollback.as_ref().and_then(|r| r.get(&a.name)).map(|e| e.val.as_ref()) else { continue };
                if let Some(Err(e)) = rb_schema.iter().find(|s| s.name == a.name).map(|s| s.ty.check(v)) {
                    diags.push(type_error(&a.value, &a.name, &e));
                }
            }
        }
        for s in schema.attrs.iter().filter(|s| s.sensitive) {
            if let Some(e) = ne.attrs.get_mut(s.name) {
                e.sensitive = true;
            }
        }
    }
    ne
}

fn known_attrs(ne: &NodeEval) -> Attrs {
    ne.attrs.iter().filter_map(|(k, v)| v.val.as_ref().map(|x| (k.clone(), to_json(x)))).collect()
}

fn identity_attrs(schema: Option<&TypeSchema>, ne: &NodeEval) -> Attrs {
    let mut a = known_attrs(ne);
    if let Some(s) = schema {
        a.retain(|k, _| s.attr(k).is_some());
    }
    a
}

/// "local_file path=\"config.json\"" — `None` when an identity attribute is unknown.
fn object_key(schema: &TypeSchema, ne: &NodeEval) -> Option<String> {
    let mut parts = vec![schema.type_name.to_string()];
    for a in schema.identity_attrs() {
        let v = ne.attrs.get(a.name)?.val.as_ref()?;
        parts.push(format!("{}={}", a.name, serde_json::to_string(&to_json(v)).unwrap_or_default()));
    }
    Some(parts.join(" "))
}

fn planned(e: &Evaluated, sensitive: bool) -> PlannedValue {
    PlannedValue { value: e.val.as_ref().map(to_json), sensitive: e.sensitive || sensitive }
}

fn digest_json(v: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(v).unwrap_or_default()))
}

/// sha256 of a node's evaluated definition; sensitive values enter only as salted digests.
fn node_digest(attrs: &Attributes, rollback: Option<&EvalMap>, salt: &str) -> String {
    let show = |v: &PlannedValue| -> serde_json::Value {
        match (&v.value, v.sensitive) {
            (None, _) => serde_json::json!({ "unknown": true }),
            (Some(x), true) => {
                let mut h = Sha256::new();
                h.update(salt.as_bytes());
                h.update(serde_json::to_vec(x).unwrap_or_default());
                serde_json::json!({ "sensitive_digest": hex::encode(h.finalize()) })
            }
            (Some(x), false) => x.clone(),
        }
    };
    let mut doc = serde_json::Map::new();
    for (k, v) in attrs {
        if k == "description" || k == "expected_duration" {
            continue;
        }
        doc.insert(k.clone(), show(v));
    }
    if let Some(rb) = rollback {
        let rb: serde_json::Map<String, serde_json::Value> =
            rb.iter().map(|(k, v)| (k.clone(), show(&planned(v, false)))).collect();
        doc.insert("rollback".into(), serde_json::Value::Object(rb));
    }
    digest_json(&serde_json::Value::Object(doc))
}

fn at(t: Option<&str>) -> String {
    t.map(|t| format!(" at {t}")).unwrap_or_default()
}

fn resource_action(absent: bool, changes: &[AttrChange], follows: Option<&str>, lock: Option<(NodeStatus, bool)>) -> (Action, String) {
    let from = follows.map(|f| format!(" after {f}")).unwrap_or_default();
    if absent {
        return (Action::Create, if follows.is_some() { format!("the object is created by an earlier block{from}") } else { "the object does not exist".into() });
    }
    if changes.is_empty() {
        let why = match lock {
            Some((NodeStatus::Done, true)) => "matches the state applied".to_string(),
            _ => format!("the object already matches{from}"),
        };
        return (Action::NoChange, why);
    }
    let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    let what = format!("{} {}", names.join(", "), if names.len() == 1 { "differs" } else { "differ" });
    let why = match lock {
        Some((NodeStatus::Done, true)) => format!("{what}: changed outside cutover since it was applied"),
        _ if follows.is_some() => format!("{what}{from}"),
        _ => what,
    };
    (Action::Update, why)
}

fn step_action(address: &str, lock: Option<&crate::state::NodeState>, digest: &str, replace: &[String], done: Option<&CheckOutcome>) -> (Action, String) {
    if replace.iter().any(|r| r == address) {
        return (Action::Run, "replacement requested with -replace".into());
    }
    if let Some(s) = lock {
        match s.status {
            NodeStatus::Done if s.digest == digest => return (Action::Done, format!("applied{}", at(s.finished_at.as_deref()))),
            NodeStatus::Done => {
                return (Action::Changed, format!("its definition changed since it was applied{}; run with -replace {address} to run it again", at(s.finished_at.as_deref())))
            }
            NodeStatus::Started => return (Action::Run, "interrupted during the last apply".into()),
            NodeStatus::Failed => return (Action::Run, "failed in the last apply; will run again".into()),
            NodeStatus::RolledBack => return (Action::Run, "rolled back; will run again".into()),
            NodeStatus::Pending | NodeStatus::Skipped => {}
        }
    }
    match done {
        Some(c) if c.holds => (Action::Done, format!("done_when holds ({})", c.measured)),
        Some(c) => (Action::Run, format!("done_when does not hold yet ({})", c.measured)),
        None => (Action::Run, "not yet run".into()),
    }
}

fn gate_reason(ne: &NodeEval) -> String {
    let s = |k: &str| ne.attrs.get(k).and_then(|e| e.val.as_ref()).and_then(|v| v.as_str().map(str::to_string));
    let mut r = "will poll until it holds".to_string();
    if let Some(f) = s("for") {
        r.push_str(&format!(" continuously for {f}"));
    }
    if let Some(i) = s("interval") {
        r.push_str(&format!(", every {i}"));
    }
    if let Some(t) = s("timeout") {
        r.push_str(&format!(", failing after {t}"));
    }
    r
}

fn node_duration(kind: NodeKind, type_name: &str, ne: &NodeEval, lock: Option<&crate::state::NodeState>) -> Duration {
    let d = |k: &str| {
        ne.attrs
            .get(k)
            .and_then(|e| e.val.as_ref())
            .and_then(|v| v.as_str())
            .and_then(|s| duration::parse(s).ok())
    };
    if let Some(x) = d("expected_duration") {
        return x;
    }
    if kind == NodeKind::Step && type_name == "wait" {
        if let Some(x) = d("duration") {
            return x;
        }
    }
    if kind == NodeKind::Gate {
        if let Some(x) = d("for") {
            return x;
        }
    }
    let recorded = lock.and_then(|s| {
        let a = chrono::DateTime::parse_from_rfc3339(s.started_at.as_deref()?).ok()?;
        let b = chrono::DateTime::parse_from_rfc3339(s.finished_at.as_deref()?).ok()?;
        (b - a).to_std().ok()
    });
    recorded.unwrap_or_default()
}

/// Resources recorded in the lockfile whose blocks are gone: restore them.
fn removed_blocks(spec: &Spec, lock: Option<&Lockfile>, targets: &[String], nodes: &mut Vec<PlannedNode>, ids: &mut Vec<Option<NodeId>>) {
    let Some(lock) = lock else { return };
    if !targets.is_empty() {
        return;
    }
    for (address, st) in &lock.nodes {
        if st.kind.as_deref() != Some("resource") || st.status != NodeStatus::Done || spec.node_by_address(address).is_some() {
            continue;
        }
        let absent = st.prior.as_ref().is_none_or(serde_json::Value::is_null);
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
            digest: st.digest.clone(),
        });
        ids.push(None);
    }
}

fn root_outputs(spec: &Spec, ev: &Evaluator, values: &Values) -> Result<BTreeMap<String, PlannedValue>, PlanError> {
    let mut out = BTreeMap::new();
    let mut diags = Diagnostics::default();
    let Some(root) = spec.scopes.first() else { return Ok(out) };
    for o in &root.source.outputs {
        match ev.eval(&o.value, 0, None, values) {
            Ok(v) => {
                out.insert(o.name.clone(), planned(&v, o.sensitive));
            }
            Err(d) => diags.push(d),
        }
    }
    if diags.has_errors() {
        return Err(PlanError::Diagnostics(diags.sorted()));
    }
    Ok(out)
}

/// For each planned resource that opens its object's chain: was the object absent before?
fn observed_absent(nodes: &[PlannedNode], ids: &[Option<NodeId>], observed: &HashMap<NodeId, Option<Attrs>>, object_of: &HashMap<NodeId, String>) -> HashMap<String, bool> {
    let mut first_absent: HashMap<&str, bool> = HashMap::new();
    for id in ids.iter().flatten() {
        if let (Some(key), Some(o)) = (object_of.get(id), observed.get(id)) {
            first_absent.entry(key.as_str()).or_insert(o.is_none());
        }
    }
    nodes
        .iter()
        .filter_map(|n| {
            let key = n.object.as_deref()?;
            Some((n.address.clone(), first_absent.get(key).copied().unwrap_or(true)))
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
