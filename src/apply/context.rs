//! What every part of apply shares: the [`Context`] it works in, why it
//! cannot run ([`ApplyError`]), and how a resource's real object is named.
//! Kept apart from the coordinator so that resume and undo, which the
//! coordinator calls, do not import it back.

use crate::graph::Graph;
use crate::plan::evaluate::{known_attrs, NodeEval};
use crate::providers::{Attrs, Registry};
use crate::spec::{NodeId, Spec};
use crate::state::{Backend, StateError};

/// Why apply could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the last apply was interrupted while {} {} running, and {} not idempotent: it may have done part of its work. Check by hand, then record what happened with `cutover state resolve ADDR --done` or `--failed` and apply again", nodes.join(", "), if nodes.len() == 1 { "was" } else { "were" }, if nodes.len() == 1 { "it is" } else { "they are" })]
    ResumeBlocked { nodes: Vec<String> },
}

/// What apply works with.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub graph: &'a Graph,
    pub registry: &'a Registry,
    pub backend: &'a dyn Backend,
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The object a resource names, keyed as the plan keys it
/// ([`crate::plan::evaluate::object_key_of`]).
pub(crate) fn object_key(cx: &Context, type_name: &str, identity: &Attrs) -> String {
    match cx
        .registry
        .schema(crate::spec::ast::NodeKind::Resource, type_name)
    {
        Some(schema) => crate::plan::evaluate::object_key_of(schema, identity),
        // A type no provider serves any more: its lockfile identity, as JSON.
        None => format!(
            "{type_name} {}",
            serde_json::to_string(identity).unwrap_or_default()
        ),
    }
}

/// Identity attributes of a resource, per its schema.
pub(crate) fn identity_of(cx: &Context, id: NodeId, ne: &NodeEval) -> Attrs {
    let node = &cx.spec.nodes[id];
    let Some(schema) = cx.registry.schema(node.decl.kind, &node.decl.type_name) else {
        return Attrs::new();
    };
    let all = known_attrs(ne);
    schema
        .identity_attrs()
        .filter_map(|a| all.get(a.name).map(|v| (a.name.to_string(), v.clone())))
        .collect()
}
