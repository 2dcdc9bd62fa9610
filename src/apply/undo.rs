//! Rollback: undo what a migration completed, newest first.
//!
//! Completed nodes are walked in reverse topological order: a resource is
//! restored to the state recorded before the migration first changed its
//! object (once per object), a step runs its `rollback {}` block, gates and
//! data sources are reset so that the next apply checks them again. Steps
//! without a rollback block keep their effects; irreversible ones are named.
//! Every transition is journaled; the first failure stops the walk and the
//! report says exactly what is left.

use super::context::{identity_of, now, object_key, Context};
use super::{Event, Reporter};
use crate::eval::Evaluator;
use crate::plan::evaluate::{evaluate_node, known_attrs, NodeEval, Values};
use crate::providers::Attrs;
use crate::spec::ast::NodeKind;
use crate::spec::{Diagnostics, NodeId};
use crate::state::{JsonText, Lockfile, NodeState, NodeStatus, Record, StateError};
use std::collections::{HashMap, HashSet};

/// What a rollback did.
#[derive(Debug, Default)]
pub struct Report {
    pub rolled_back: Vec<String>,
    /// Gates and data sources forgotten as passed: checked again next time.
    pub reset: Vec<String>,
    /// Nodes whose effects stay, and why.
    pub kept: Vec<(String, String)>,
    /// Nodes left in place because a point of no return that depends on them
    /// has run, with that step's address.
    pub protected: Vec<(String, String)>,
    /// Completed nodes that depended on undone work: they run again next time.
    pub invalidated: Vec<String>,
    /// The node whose rollback failed, and the error.
    pub failed: Option<(String, String)>,
    /// What was not undone because the rollback stopped.
    pub left: Vec<String>,
}

impl Report {
    /// Nothing failed and nothing was left in place short of the goal.
    pub fn is_complete(&self) -> bool {
        self.failed.is_none() && self.protected.is_empty()
    }

    /// The points of no return the rollback stopped at.
    pub fn stopped_at(&self) -> Vec<String> {
        let mut by: Vec<String> = self.protected.iter().map(|(_, b)| b.clone()).collect();
        by.sort();
        by.dedup();
        by
    }

    /// "N undone, M kept[, K to run again]".
    pub fn counts(&self) -> String {
        format!(
            "{} undone, {} kept{}{}",
            self.rolled_back.len(),
            self.kept.len(),
            match self.reset.len() {
                0 => String::new(),
                1 => ", 1 gate to check again".to_string(),
                n => format!(", {n} gates to check again"),
            },
            if self.invalidated.is_empty() {
                String::new()
            } else {
                format!(", {} to run again", self.invalidated.len())
            }
        )
    }

    /// What was left in place at a point of no return, or `None`.
    pub fn short_of(&self) -> Option<String> {
        (!self.protected.is_empty()).then(|| {
            format!(
                "the point of no return {} has run, so what it depends on was left in place: {}",
                self.stopped_at().join(", "),
                self.protected
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// One sentence for the end of a rollback.
    pub fn summary(&self) -> String {
        let counts = self.counts();
        match (&self.failed, self.short_of()) {
            (Some((address, _)), _) => format!(
                "Rollback stopped at {address}, which could not be undone: {counts}; still to undo: {}.",
                self.left.join(", ")
            ),
            (None, Some(short)) => format!("Rollback stopped short: {counts}; {short}."),
            (None, None) => format!("Rollback complete: {counts}."),
        }
    }
}

/// What rollback will do with one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// Put the object back as recorded (`None`: remove it).
    Restore(Option<serde_json::Value>),
    /// Put the object back as the protected `block` left it (see [`Undo::Protected`]).
    RestoreAfter {
        state: Option<serde_json::Value>,
        block: String,
    },
    /// Another block of the same object restores it.
    SameObject,
    RunRollback,
    /// Gates and data sources: forget that they passed.
    Reset,
    /// Leave the node done, for this reason.
    Keep(String),
    /// Leave the node done: the point of no return `by`, which depends on
    /// it, has run; undoing it could destroy the only copy of what `by` left.
    Protected {
        by: String,
    },
}

impl Undo {
    /// Whether the node stays as it is.
    pub fn keeps(&self) -> bool {
        matches!(self, Undo::Keep(_) | Undo::Protected { .. })
    }

    /// Why a protected node is left in place, for the operator.
    pub fn protected_reason(by: &str) -> String {
        format!(
            "left in place: {by} depends on it and has run, a point of no return (undo past it only with `cutover rollback --past {}`)",
            crate::addr::shell(by)
        )
    }
}

/// Whether the lockfile's `st` for node `id` records a point of no return that has run.
fn ran_point_of_no_return(cx: &Context, id: NodeId, st: &NodeState) -> bool {
    let decl = &cx.spec.nodes[id].decl;
    st.status == NodeStatus::Done
        && decl.kind == NodeKind::Step
        && decl.body.block("rollback").is_none()
        && (st.irreversible
            || decl
                .body
                .attr("irreversible")
                .and_then(|a| a.value.literal())
                .and_then(|v| v.as_bool())
                == Some(true))
}

/// The points of no return that have run.
pub fn points_of_no_return_run(cx: &Context, doc: &Lockfile) -> Vec<NodeId> {
    (0..cx.spec.nodes.len())
        .filter(|&id| {
            doc.nodes
                .get(&cx.spec.nodes[id].address)
                .is_some_and(|st| ran_point_of_no_return(cx, id, st))
        })
        .collect()
}

/// For every node, the point of no return that has run and depends on it
/// (none for the ones in `past`, which the operator named).
pub fn protected_by(cx: &Context, doc: &Lockfile, past: &[NodeId]) -> Vec<Option<NodeId>> {
    let mut out = vec![None; cx.spec.nodes.len()];
    for p in points_of_no_return_run(cx, doc) {
        if past.contains(&p) {
            continue;
        }
        for (a, is_ancestor) in cx.graph.with_dependencies(&[p]).into_iter().enumerate() {
            if is_ancestor && a != p && out[a].is_none() {
                out[a] = Some(p);
            }
        }
    }
    out
}

/// The object a lockfile entry names, as a key.
fn recorded_object(cx: &Context, address: &str, st: &NodeState) -> String {
    match (
        &st.type_name,
        st.identity.as_ref().and_then(JsonText::object),
    ) {
        (Some(t), Some(m)) => object_key(cx, t, &m),
        _ => address.to_string(),
    }
}

/// For each object some protected block changed: the state the newest such
/// block left it in, which later blocks restore it to instead of its prior.
fn protected_floors(
    cx: &Context,
    doc: &Lockfile,
    protected: &[Option<NodeId>],
) -> HashMap<String, (Option<serde_json::Value>, String)> {
    let mut floors = HashMap::new();
    for &id in cx.graph.topo_order() {
        let node = &cx.spec.nodes[id];
        let Some(st) = doc.nodes.get(&node.address) else {
            continue;
        };
        if protected[id].is_some() && node.decl.kind == NodeKind::Resource {
            let applied = st
                .applied
                .as_ref()
                .map(|v| (!v.is_null()).then(|| v.value()));
            if let Some(a) = applied {
                floors.insert(
                    recorded_object(cx, &node.address, st),
                    (a, node.address.clone()),
                );
            }
        }
    }
    floors
}

/// The nodes a rollback would visit, in order, with what it would do.
/// Nothing a point of no return that has run depends on is undone, unless
/// that step is in `past`.
pub fn entries(
    cx: &Context,
    doc: &Lockfile,
    included: &[bool],
    past: &[NodeId],
) -> Vec<(NodeId, Undo)> {
    let protected = protected_by(cx, doc, past);
    let floors = protected_floors(cx, doc, &protected);
    let mut out = Vec::new();
    let mut objects = HashSet::new();
    for &id in cx.graph.topo_order().iter().rev() {
        if !included[id] {
            continue;
        }
        let node = &cx.spec.nodes[id];
        let Some(st) = doc.nodes.get(&node.address) else {
            continue;
        };
        let undo = match undo_of(cx, id, st, &floors, &mut objects) {
            Some(_) if protected[id].is_some() => Undo::Protected {
                by: protected[id]
                    .map(|p| cx.spec.nodes[p].address.clone())
                    .unwrap_or_default(),
            },
            Some(u) => u,
            None => continue,
        };
        out.push((id, undo));
    }
    out
}

/// What undoing one recorded node means, ignoring points of no return;
/// `None` when there is nothing to undo.
fn undo_of(
    cx: &Context,
    id: NodeId,
    st: &NodeState,
    floors: &HashMap<String, (Option<serde_json::Value>, String)>,
    objects: &mut HashSet<String>,
) -> Option<Undo> {
    let node = &cx.spec.nodes[id];
    Some(match (node.decl.kind, st.status) {
        (
            NodeKind::Resource,
            NodeStatus::Done | NodeStatus::Failed | NodeStatus::Started | NodeStatus::Interrupted,
        ) => {
            if st.prior.is_none() && st.status != NodeStatus::Done {
                return None; // never got as far as changing anything
            }
            let key = recorded_object(cx, &node.address, st);
            if !objects.insert(key.clone()) {
                Undo::SameObject
            } else if let Some((state, block)) = floors.get(&key) {
                Undo::RestoreAfter {
                    state: state.clone(),
                    block: block.clone(),
                }
            } else {
                match &st.prior {
                    Some(p) if p.is_null() => Undo::Restore(None),
                    Some(p) => Undo::Restore(Some(p.value())),
                    None => Undo::Keep("no prior state was recorded".into()),
                }
            }
        }
        (NodeKind::Step, NodeStatus::Done) => {
            if node.decl.body.block("rollback").is_some() {
                Undo::RunRollback
            } else if ran_point_of_no_return(cx, id, st) {
                Undo::Keep("irreversible: it cannot be undone".into())
            } else {
                Undo::Keep("no rollback block: its effects stay".into())
            }
        }
        (NodeKind::Gate | NodeKind::Data, NodeStatus::Done) => Undo::Reset,
        _ => return None,
    })
}

/// Evaluates, in topological order, every node not evaluated yet (with the
/// outputs the lockfile recorded), so that rollback blocks can be evaluated.
fn evaluate_missing(
    cx: &Context,
    doc: &Lockfile,
    ev: &Evaluator,
    evals: &mut [Option<Box<NodeEval>>],
) {
    for &id in cx.graph.topo_order() {
        if evals[id].is_some() {
            continue;
        }
        let node = &cx.spec.nodes[id];
        let mut ne = evaluate_node(
            cx.spec,
            ev,
            &Values(evals),
            id,
            cx.registry,
            &mut Diagnostics::default(),
        );
        if let Some(s) = doc
            .nodes
            .get(&node.address)
            .filter(|s| s.status == NodeStatus::Done)
        {
            ne.outputs = Some(s.outputs_json());
        }
        evals[id] = Some(Box::new(ne));
    }
}

/// Carries out a rollback plan made by [`entries`], then invalidates every
/// completed node that depended on something undone.
pub(crate) async fn run(
    cx: &Context<'_>,
    doc: &mut Lockfile,
    lineage: &str,
    plan: Vec<(NodeId, Undo)>,
    ev: &Evaluator<'_>,
    evals: &mut [Option<Box<NodeEval>>],
    reporter: &mut dyn Reporter,
) -> Result<Report, StateError> {
    // Gates merely reset (checked again next time) get no line of their own.
    let visited = plan.iter().filter(|(_, u)| *u != Undo::Reset).count();
    reporter.report(&Event::RollbackStarted { nodes: visited });
    evaluate_missing(cx, doc, ev, evals);
    let mut report = Report::default();
    let mut undone = Vec::new();
    for (i, (id, undo)) in plan.iter().enumerate() {
        let address = cx.spec.nodes[*id].address.clone();
        let result: Result<String, String> = match undo {
            Undo::Keep(reason) => {
                keep(reporter, &mut report, address, reason.clone());
                continue;
            }
            Undo::Protected { by } => {
                keep(
                    reporter,
                    &mut report,
                    address.clone(),
                    Undo::protected_reason(by),
                );
                report.protected.push((address, by.clone()));
                continue;
            }
            Undo::Reset => Ok("will be checked again".into()),
            Undo::SameObject => Ok("restored with its object".into()),
            Undo::Restore(prior) => {
                restore(cx, doc, evals, *id, prior.as_ref())
                    .await
                    .map(|removed| {
                        if removed {
                            "removed: it did not exist before".into()
                        } else {
                            "restored to its state before the migration".into()
                        }
                    })
            }
            Undo::RestoreAfter { state, block } => restore(cx, doc, evals, *id, state.as_ref())
                .await
                .map(|_| format!("restored to the state {block} left, which stays")),
            Undo::RunRollback => match evals[*id].as_ref() {
                Some(ne) => run_rollback_block(cx, *id, ne).await,
                None => Err("its rollback block could not be evaluated".into()),
            },
        };
        match result {
            Ok(detail) => {
                let mut s = doc
                    .nodes
                    .get(&address)
                    .cloned()
                    .unwrap_or_else(|| NodeState::new(NodeStatus::RolledBack, ""));
                s.status = NodeStatus::RolledBack;
                s.finished_at = Some(now());
                doc.nodes.insert(address.clone(), s.clone());
                cx.backend.append(&[Record::node(lineage, &address, s)])?;
                if *undo == Undo::Reset {
                    report.reset.push(address);
                } else {
                    reporter.report(&Event::NodeRolledBack {
                        address: address.clone(),
                        detail,
                    });
                    report.rolled_back.push(address);
                }
                undone.push(*id);
            }
            Err(error) => {
                let left: Vec<String> = plan[i..]
                    .iter()
                    .filter(|(_, u)| !u.keeps())
                    .map(|(id, _)| cx.spec.nodes[*id].address.clone())
                    .collect();
                reporter.report(&Event::RollbackFailed {
                    address: address.clone(),
                    error: error.clone(),
                    left: left.clone(),
                });
                report.failed = Some((address, error));
                report.left = left;
                break;
            }
        }
    }
    report.invalidated = invalidate(cx, doc, lineage, &undone, reporter)?;
    Ok(report)
}

fn keep(reporter: &mut dyn Reporter, report: &mut Report, address: String, reason: String) {
    reporter.report(&Event::RollbackKept {
        address: address.clone(),
        reason: reason.clone(),
    });
    report.kept.push((address, reason));
}

/// Puts a resource's object into `state` (`None`: removes it); `Ok(true)` when it was removed.
async fn restore(
    cx: &Context<'_>,
    doc: &Lockfile,
    evals: &[Option<Box<NodeEval>>],
    id: NodeId,
    state: Option<&serde_json::Value>,
) -> Result<bool, String> {
    let node = &cx.spec.nodes[id];
    let identity: Attrs = doc
        .nodes
        .get(&node.address)
        .and_then(|s| s.identity.as_ref())
        .and_then(JsonText::object)
        .or_else(|| evals[id].as_ref().map(|ne| identity_of(cx, id, ne)))
        .unwrap_or_default();
    let desired: Option<Attrs> = state.and_then(|p| serde_json::from_value(p.clone()).ok());
    // A secret's recorded value is only a digest: it cannot be put back.
    let secrets: Vec<String> = desired
        .iter()
        .flatten()
        .filter(|(_, v)| v.get("sensitive_digest").is_some())
        .map(|(k, _)| format!("`{k}`"))
        .collect();
    if !secrets.is_empty() {
        return Err(format!(
            "its prior {} is sensitive and was recorded only as a digest; restore it by hand",
            secrets.join(", ")
        ));
    }
    let Some(p) = cx
        .registry
        .provider(NodeKind::Resource, &node.decl.type_name)
    else {
        return Err("no provider serves this type".into());
    };
    p.apply(&node.decl.type_name, desired.as_ref(), &identity)
        .await
        .map(|_| desired.is_none())
        .map_err(|e| e.to_string())
}

/// Marks every completed node that depends on an undone one as invalidated:
/// what it did rested on work that is gone, so it runs again next time.
fn invalidate(
    cx: &Context<'_>,
    doc: &mut Lockfile,
    lineage: &str,
    undone: &[NodeId],
    reporter: &mut dyn Reporter,
) -> Result<Vec<String>, StateError> {
    let mut cause: Vec<Option<NodeId>> = vec![None; cx.spec.nodes.len()];
    for &u in undone {
        cause[u] = Some(u);
    }
    let mut records = Vec::new();
    let mut out = Vec::new();
    for &id in cx.graph.topo_order() {
        if cause[id].is_none() {
            cause[id] = cx.graph.dependencies(id).into_iter().find_map(|d| cause[d]);
        }
        let (Some(c), false) = (cause[id], undone.contains(&id)) else {
            continue;
        };
        let address = &cx.spec.nodes[id].address;
        let Some(st) = doc
            .nodes
            .get_mut(address)
            .filter(|s| s.status == NodeStatus::Done)
        else {
            continue;
        };
        let because = format!("{} was rolled back", cx.spec.nodes[c].address);
        st.status = NodeStatus::Invalidated;
        st.error = Some(because.clone());
        records.push(Record::node(lineage, address, st.clone()));
        reporter.report(&Event::NodeInvalidated {
            address: address.clone(),
            because,
        });
        out.push(address.clone());
    }
    cx.backend.append(&records)?;
    Ok(out)
}

async fn run_rollback_block(cx: &Context<'_>, id: NodeId, ne: &NodeEval) -> Result<String, String> {
    let node = &cx.spec.nodes[id];
    let Some(rb) = &ne.rollback else {
        return Err("no rollback block".into());
    };
    if let Some((k, _)) = rb.iter().find(|(_, v)| !v.is_known()) {
        return Err(format!("`{k}` of its rollback block is unknown"));
    }
    let mut attrs: Attrs = rb
        .iter()
        .filter_map(|(k, v)| v.val.as_ref().map(|x| (k.clone(), crate::eval::to_json(x))))
        .collect();
    // The rollback runs where and how the step ran.
    let step = known_attrs(ne);
    for k in ["env", "dir", "headers", "database"] {
        if let (Some(v), false) = (step.get(k), attrs.contains_key(k)) {
            attrs.insert(k.to_string(), v.clone());
        }
    }
    let Some(p) = cx.registry.provider(NodeKind::Step, &node.decl.type_name) else {
        return Err("no provider serves this type".into());
    };
    let timeout = ne.lifecycle().timeout;
    let run = p.run_rollback(&node.decl.type_name, &step, &attrs);
    let out = match timeout {
        Some(t) => tokio::time::timeout(t, run)
            .await
            .map_err(|_| "its rollback timed out".to_string())?,
        None => run.await,
    };
    out.map(|_| "ran its rollback block".into())
        .map_err(|e| e.to_string())
}

/// `cutover rollback`: undo every completed node of the migration, short of
/// the points of no return that have run, except those named in `past`.
pub async fn rollback(
    cx: &Context<'_>,
    doc: &mut Lockfile,
    past: &[NodeId],
    reporter: &mut dyn Reporter,
) -> Result<Report, StateError> {
    let ev = Evaluator::new(cx.spec);
    let mut evals = vec![None; cx.spec.nodes.len()];
    let lineage = doc.lineage.clone();
    let plan = entries(cx, doc, &vec![true; cx.spec.nodes.len()], past);
    let report = run(cx, doc, &lineage, plan, &ev, &mut evals, reporter).await?;
    reporter.report(&Event::Finished {
        ok: report.is_complete(),
        summary: report.summary(),
    });
    Ok(report)
}
