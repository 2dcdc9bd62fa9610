//! Evaluating nodes: shared by the planner (with plan-time values) and by
//! apply (with the outputs of nodes that have run).

use super::{Attributes, PlanError, PlannedValue};
use crate::eval::{to_json, Evaluated, Evaluator, NodeValues};
use crate::providers::schema::{common_attrs, type_error, SchemaNames, TypeSchema};
use crate::providers::Attrs;
use crate::spec::ast::Body;
use crate::spec::{Diagnostics, NodeId, Spec};
use crate::state::JsonText;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A node's evaluated attributes by name (a handful: see [`super::Attributes`]).
pub(crate) type EvalMap = vecmap::VecMap<String, Evaluated>;

/// Evaluated values of one node.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeEval {
    pub attrs: EvalMap,
    pub rollback: Option<EvalMap>,
    /// Known outputs (done steps, read data sources), an object as JSON
    /// text: most are never read, and parsed they took 0.4 KB a node.
    /// `None`: known after apply.
    pub outputs: Option<JsonText>,
    /// The names its type's schema declares (none for an unknown type).
    pub names: Option<Arc<SchemaNames>>,
    /// The lifecycle attributes, evaluated once; `None` when all are
    /// defaults, as for most nodes (read through [`NodeEval::lifecycle`]).
    pub lifecycle_set: Option<Box<Lifecycle>>,
}

/// How a node runs, from its lifecycle attributes (`idempotent`,
/// `irreversible`, `timeout`, `retry {}`, `interval`, `for`,
/// `failure_limit`, `expected_duration`), evaluated like any other: so
/// `idempotent = var.safe` counts wherever a literal would.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lifecycle {
    pub idempotent: bool,
    pub irreversible: bool,
    pub timeout: Option<Duration>,
    /// A gate's polling interval.
    pub interval: Option<Duration>,
    /// A gate's bake time (`for`).
    pub hold: Option<Duration>,
    pub failure_limit: Option<u64>,
    pub expected_duration: Option<Duration>,
    pub retry: Retry,
}

/// `retry { attempts, backoff }`: how often a failed node runs again, and
/// the first wait (doubled after each attempt).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Duration,
}

impl Retry {
    const DEFAULT: Retry = Retry {
        attempts: 1,
        backoff: Duration::from_secs(1),
    };
}

impl Default for Retry {
    fn default() -> Retry {
        Retry::DEFAULT
    }
}

impl Lifecycle {
    const DEFAULT: Lifecycle = Lifecycle {
        idempotent: false,
        irreversible: false,
        timeout: None,
        interval: None,
        hold: None,
        failure_limit: None,
        expected_duration: None,
        retry: Retry::DEFAULT,
    };

    fn of(ne: &NodeEval) -> Lifecycle {
        let duration = |k: &str| {
            ne.value(k)
                .and_then(|v| v.as_str())
                .and_then(|s| crate::eval::duration::parse(s).ok())
        };
        let flag = |k: &str| ne.value(k).and_then(|v| v.as_bool()) == Some(true);
        let retry = ne.value("retry").and_then(|v| v.as_object());
        Lifecycle {
            idempotent: flag("idempotent"),
            irreversible: flag("irreversible"),
            timeout: duration("timeout"),
            interval: duration("interval"),
            hold: duration("for"),
            failure_limit: ne.value("failure_limit").and_then(|v| v.as_u64()),
            expected_duration: duration("expected_duration"),
            retry: Retry {
                attempts: retry
                    .and_then(|m| m.get("attempts"))
                    .and_then(|v| v.as_u64())
                    .unwrap_or(1)
                    .clamp(1, 1000) as u32,
                backoff: retry
                    .and_then(|m| m.get("backoff"))
                    .and_then(|v| v.as_str())
                    .and_then(|s| crate::eval::duration::parse(s).ok())
                    .unwrap_or(Duration::from_secs(1)),
            },
        }
    }
}

impl NodeEval {
    /// How the node runs: its lifecycle attributes, defaults where unset.
    pub(crate) fn lifecycle(&self) -> &Lifecycle {
        self.lifecycle_set.as_deref().unwrap_or(&Lifecycle::DEFAULT)
    }

    pub(crate) fn output_names(&self) -> &[&'static str] {
        self.names.as_ref().map_or(&[], |n| &n.outputs)
    }

    pub(crate) fn schema_attrs(&self) -> &[&'static str] {
        self.names.as_ref().map_or(&[], |n| &n.attrs)
    }

    /// Outputs that are secrets.
    pub(crate) fn sensitive_outputs(&self) -> &[&'static str] {
        self.names.as_ref().map_or(&[], |n| &n.sensitive_outputs)
    }

    /// The known value of attribute `name`; `None` when it is absent or
    /// known only after apply.
    pub(crate) fn value(&self, name: &str) -> Option<&hcl::Value> {
        self.attrs.get(name).and_then(|e| e.val.as_ref())
    }

    /// Remembers, for redaction, the secrets among outputs `out` read for this node.
    pub(crate) fn remember_sensitive(&self, out: &Attrs) {
        for k in self.sensitive_outputs() {
            if let Some(v) = out.get(*k) {
                crate::eval::redact::remember_json(v);
            }
        }
    }
}

pub(crate) struct Values<'a>(pub &'a [Option<Box<NodeEval>>]);

impl NodeValues for Values<'_> {
    fn attr(&self, id: NodeId, attr: &str) -> Option<Evaluated> {
        // A node left out by -target is not evaluated: its values are unknown.
        let Some(ne) = self.0.get(id)?.as_ref() else {
            return Some(Evaluated::unknown());
        };
        if let Some(v) = ne.attrs.get(attr) {
            return Some(v.clone());
        }
        let outputs = ne.outputs.as_ref().and_then(JsonText::object);
        if let Some(v) = outputs.as_ref().and_then(|o| o.get(attr)) {
            return Some(Evaluated {
                val: Some(crate::eval::from_json(v)),
                sensitive: ne.sensitive_outputs().contains(&attr),
            });
        }
        if ne.output_names().contains(&attr) {
            return Some(Evaluated::unknown());
        }
        if ne.schema_attrs().contains(&attr) {
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
                None => {
                    return Evaluated {
                        val: None,
                        sensitive,
                    }
                }
            };
        }
        match ne.outputs.as_ref().map(|o| o.object().unwrap_or_default()) {
            Some(o) => {
                for (k, v) in &o {
                    sensitive |= ne.sensitive_outputs().contains(&k.as_str());
                    m.insert(k.clone(), crate::eval::from_json(v));
                }
            }
            None if !ne.output_names().is_empty() => {
                return Evaluated {
                    val: None,
                    sensitive,
                }
            }
            None => {}
        }
        Evaluated {
            val: Some(hcl::Value::Object(m)),
            sensitive,
        }
    }
}

pub(crate) fn random_lineage() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    if buf == [0u8; 16] {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        buf[..16].copy_from_slice(&t.as_nanos().to_le_bytes());
    }
    hex::encode(buf)
}

/// Attributes that shape the graph, not the node: not part of its diff.
const EXPANSION_ATTRS: &[&str] = &["depends_on", "for_each", "count"];

pub(crate) fn evaluate_body(
    spec: &Spec,
    ev: &Evaluator,
    values: &Values,
    id: NodeId,
    body: &Body,
    skip: &[&str],
    diags: &mut Diagnostics,
) -> EvalMap {
    let node = &spec.nodes[id];
    let mut out = EvalMap::with_capacity(body.attrs.len());
    for a in &body.attrs {
        if skip.contains(&a.name.as_str()) {
            continue;
        }
        match ev.eval(&a.value, node.scope, &node.inst, values) {
            Ok(v) => {
                out.insert(a.name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    out.sort_keys();
    out
}

pub(crate) fn evaluate_node(
    spec: &Spec,
    ev: &Evaluator,
    values: &Values,
    id: NodeId,
    registry: &crate::providers::Registry,
    diags: &mut Diagnostics,
) -> NodeEval {
    let node = &spec.nodes[id];
    let schema = registry.schema(node.decl.kind, &node.decl.type_name);
    let body = &node.decl.body;
    let mut attrs = evaluate_body(spec, ev, values, id, body, EXPANSION_ATTRS, diags);
    // `retry {}` and `repeat {}` are evaluated into one object attribute each.
    for b in body
        .blocks
        .iter()
        .filter(|b| matches!(b.kind.as_str(), "retry" | "repeat"))
    {
        let inner = evaluate_body(spec, ev, values, id, &b.body, &[], diags);
        let mut sensitive = inner.values().any(|v| v.sensitive);
        let mut obj: hcl::Map<String, hcl::Value> = inner
            .into_iter()
            .filter_map(|(k, v)| v.val.map(|x| (k, x)))
            .collect();
        // `throttle "GATE_TYPE" {}` blocks of a repeat: a list of their attributes and type.
        let throttles: Vec<hcl::Value> = b
            .body
            .blocks
            .iter()
            .filter(|t| t.kind == "throttle")
            .map(|t| {
                let attrs = evaluate_body(spec, ev, values, id, &t.body, &[], diags);
                sensitive |= attrs.values().any(|v| v.sensitive);
                let mut m: hcl::Map<String, hcl::Value> = attrs
                    .into_iter()
                    .filter_map(|(k, v)| v.val.map(|x| (k, x)))
                    .collect();
                m.insert(
                    "type".into(),
                    t.labels.first().cloned().unwrap_or_default().into(),
                );
                hcl::Value::Object(m)
            })
            .collect();
        if !throttles.is_empty() {
            obj.insert("throttle".into(), hcl::Value::Array(throttles));
        }
        attrs.insert(
            b.kind.clone(),
            Evaluated {
                val: Some(hcl::Value::Object(obj)),
                sensitive,
            },
        );
        attrs.sort_keys();
    }
    let rollback = body
        .block("rollback")
        .map(|b| evaluate_body(spec, ev, values, id, &b.body, &[], diags));
    let mut ne = NodeEval {
        attrs,
        rollback,
        outputs: None,
        names: registry
            .names(node.decl.kind, &node.decl.type_name)
            .cloned(),
        lifecycle_set: None,
    };
    if let Some(schema) = schema {
        let common = common_attrs(node.decl.kind);
        for a in &body.attrs {
            let Some(Some(v)) = ne.attrs.get_mut(&a.name).map(|e| e.val.as_mut()) else {
                continue;
            };
            let ty = schema
                .attr(&a.name)
                .or_else(|| common.iter().find(|c| c.name == a.name))
                .map(|s| s.ty);
            match ty.map(|t| (t, t.check(v))) {
                Some((_, Err(e))) => diags.push(type_error(&a.value, &a.name, &e)),
                Some((t, Ok(()))) => t.coerce(v),
                None => {}
            }
        }
        if let (Some(rb_schema), Some(rb_block)) = (&schema.rollback, body.block("rollback")) {
            for a in &rb_block.body.attrs {
                let Some(Some(v)) = ne
                    .rollback
                    .as_ref()
                    .and_then(|r| r.get(&a.name))
                    .map(|e| e.val.as_ref())
                else {
                    continue;
                };
                if let Some(Err(e)) = rb_schema
                    .iter()
                    .find(|s| s.name == a.name)
                    .map(|s| s.ty.check(v))
                {
                    diags.push(type_error(&a.value, &a.name, &e));
                }
            }
        }
        for s in &schema.attrs {
            let when = s.sensitive_when.is_some_and(|(k, v)| {
                ne.attrs
                    .get(k)
                    .and_then(|e| e.val.as_ref())
                    .and_then(|x| x.as_str())
                    == Some(v)
            });
            if s.sensitive || when {
                if let Some(e) = ne.attrs.get_mut(s.name) {
                    e.sensitive = true;
                    if let Some(v) = &e.val {
                        crate::eval::redact::remember_value(v);
                    }
                }
            }
        }
    }
    let lifecycle = Lifecycle::of(&ne);
    // Boxed only when set: at 100,000 nodes, 10 MB at the plan's peak.
    ne.lifecycle_set = (lifecycle != Lifecycle::DEFAULT).then(|| Box::new(lifecycle));
    // What the provider derives from the evaluated attributes (a SQL file's content).
    if ne.attrs.values().all(Evaluated::is_known) {
        if let Some(p) = registry.provider(node.decl.kind, &node.decl.type_name) {
            for (k, v) in p.derived(&node.decl.type_name, &known_attrs(&ne)) {
                ne.attrs
                    .insert(k, Evaluated::known(crate::eval::from_json(&v)));
            }
            ne.attrs.sort_keys();
        }
    }
    // The same for the rollback block: the plan shows the SQL a rollback runs.
    if let (Some(rb), Some(p)) = (
        ne.rollback.as_mut(),
        registry.provider(node.decl.kind, &node.decl.type_name),
    ) {
        if rb.values().all(Evaluated::is_known) {
            let known: Attrs = rb
                .iter()
                .filter_map(|(k, v)| v.val.as_ref().map(|x| (k.clone(), to_json(x))))
                .collect();
            for (k, v) in p.derived(&node.decl.type_name, &known) {
                rb.insert(k, Evaluated::known(crate::eval::from_json(&v)));
            }
        }
    }
    ne
}

pub(crate) fn known_attrs(ne: &NodeEval) -> Attrs {
    ne.attrs
        .iter()
        .filter_map(|(k, v)| v.val.as_ref().map(|x| (k.clone(), to_json(x))))
        .collect()
}

pub(crate) fn identity_attrs(schema: Option<&TypeSchema>, ne: &NodeEval) -> Attrs {
    let mut a = known_attrs(ne);
    if let Some(s) = schema {
        a.retain(|k, _| s.attr(k).is_some());
    }
    a
}

/// "local_file path=\"config.json\"" — `None` when an identity attribute is
/// unknown. An optional identity attribute left out (a Kubernetes namespace
/// the provider supplies) is left out of the key too.
pub(crate) fn object_key(schema: &TypeSchema, ne: &NodeEval) -> Option<String> {
    let mut identity = Attrs::new();
    for a in schema.identity_attrs() {
        let Some(e) = ne.attrs.get(a.name) else {
            if a.required {
                return None;
            }
            continue;
        };
        identity.insert(a.name.to_string(), to_json(e.val.as_ref()?));
    }
    Some(object_key_of(schema, &identity))
}

/// Which real object a resource names — the one key plan and apply both use
/// for it, and what the plan prints: the type and the identity attributes in
/// the schema's order, `local_file path="config.json"`.
pub fn object_key_of(schema: &TypeSchema, identity: &Attrs) -> String {
    let mut parts = vec![schema.type_name.to_string()];
    for a in schema.identity_attrs() {
        if let Some(v) = identity.get(a.name) {
            parts.push(format!(
                "{}={}",
                a.name,
                serde_json::to_string(v).unwrap_or_default()
            ));
        }
    }
    parts.join(" ")
}

pub(crate) fn planned(e: &Evaluated, sensitive: bool) -> PlannedValue {
    PlannedValue {
        value: e.val.as_ref().map(to_json),
        sensitive: e.sensitive || sensitive,
    }
}

pub(crate) fn digest_json(v: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(v).unwrap_or_default()))
}

/// sha256 of a node's evaluated definition; sensitive values enter only as salted digests.
/// A sensitive value as the lockfile keeps it: a digest salted with the lineage.
pub(crate) fn sensitive_digest(v: &serde_json::Value, salt: &str) -> serde_json::Value {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(serde_json::to_vec(v).unwrap_or_default());
    serde_json::json!({ "sensitive_digest": hex::encode(h.finalize()) })
}

/// One attribute as a node's digest sees it: its name, its value (`None`:
/// unknown) and whether it is sensitive.
pub(crate) type DigestEntry<'a> = (&'a str, Option<Cow<'a, serde_json::Value>>, bool);

/// The digest entries of evaluated attributes; `sensitive` says which the schema marks.
pub(crate) fn digest_entries<'a>(
    attrs: &'a EvalMap,
    sensitive: impl Fn(&str) -> bool + 'a,
) -> impl Iterator<Item = DigestEntry<'a>> + 'a {
    attrs.iter().map(move |(k, v)| {
        let value = v.val.as_ref().map(|x| Cow::Owned(to_json(x)));
        (k.as_str(), value, v.sensitive || sensitive(k))
    })
}

/// The digest entries of planned attributes.
pub(crate) fn planned_entries(attrs: &Attributes) -> impl Iterator<Item = DigestEntry<'_>> {
    attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.value.as_ref().map(Cow::Borrowed), v.sensitive))
}

/// sha256 of a node's evaluated definition: its attributes (but
/// `description` and `expected_duration`) and rollback block as one JSON
/// object, sensitive values as salted digests and unknown ones as unknown.
/// The JSON is written straight into the hash, as serde_json prints it.
pub(crate) fn node_digest<'a>(
    attrs: impl Iterator<Item = DigestEntry<'a>>,
    rollback: Option<&EvalMap>,
    salt: &str,
) -> String {
    let mut h = HashWriter(Sha256::new());
    h.0.update(b"{");
    let mut first = true;
    for (k, v, sensitive) in attrs {
        if k == "description" || k == "expected_duration" {
            continue;
        }
        h.entry(&mut first, k, &shown(v.as_deref(), sensitive, salt));
    }
    if let Some(rb) = rollback {
        let rb: serde_json::Map<String, serde_json::Value> = rb
            .iter()
            .map(|(k, v)| {
                let value = v.val.as_ref().map(to_json);
                (k.clone(), shown(value.as_ref(), v.sensitive, salt))
            })
            .collect();
        h.entry(&mut first, "rollback", &serde_json::Value::Object(rb));
    }
    h.0.update(b"}");
    hex::encode(h.0.finalize())
}

/// A value as a digest counts it.
fn shown(v: Option<&serde_json::Value>, sensitive: bool, salt: &str) -> serde_json::Value {
    match (v, sensitive) {
        (None, _) => serde_json::json!({ "unknown": true }),
        (Some(x), true) => sensitive_digest(x, salt),
        (Some(x), false) => x.clone(),
    }
}

/// A sha256 that serde_json writes into.
struct HashWriter(Sha256);

impl HashWriter {
    /// `"key":value`, after a comma unless it is the first.
    fn entry(&mut self, first: &mut bool, key: &str, value: &serde_json::Value) {
        if !std::mem::take(first) {
            self.0.update(b",");
        }
        // Writing into a hash cannot fail, nor can printing a JSON value.
        let _ = serde_json::to_writer(&mut *self, key);
        self.0.update(b":");
        let _ = serde_json::to_writer(&mut *self, value);
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn root_outputs(
    spec: &Spec,
    ev: &Evaluator,
    values: &Values,
) -> Result<BTreeMap<String, PlannedValue>, PlanError> {
    let mut out = BTreeMap::new();
    let mut diags = Diagnostics::default();
    let Some(root) = spec.scopes.first() else {
        return Ok(out);
    };
    for o in &root.source.outputs {
        match ev.eval(&o.value, 0, &crate::spec::Inst::NONE, values) {
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
