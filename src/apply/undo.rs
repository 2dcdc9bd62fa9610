//! Rollback: undo what a migration completed, newest first.
//!
//! Completed nodes are walked in reverse topological order: a resource is
//! restored to the state recorded before the migration first changed its
//! object (once per object), a step runs its `rollback {}` block, gates and
//! data sources are reset so that the next apply checks them again. Steps
//! without a rollback block keep their effects; irreversible ones are named.
//! Every transition is journaled; the first failure stops the walk and the
//! report says exactly what is left.

use super::coordinator::{identity_of, now, object_key, Context};
use super::{Event, Reporter};
use crate::eval::Evaluator;
use crate::plan::evaluate::{evaluate_node, known_attrs, NodeEval, Values};
use crate::providers::Attrs;
use crate::spec::ast::NodeKind;
use crate::spec::{Diagnostics, NodeId};
use crate::state::{Lockfile, NodeState, NodeStatus, Record, StateError};
use std::collections::HashSet;

/// What a rollback did.
#[derive(Debug, Default)]
pub struct Report {
    pub rolled_back: Vec<String>,
    /// Nodes whose effects stay, and why.
    pub kept: Vec<(String, String)>,
    /// The node whose rollback failed, and the error.
    pub failed: Option<(String, String)>,
    /// What was not undone because the rollback stopped.
    pub left: Vec<String>,
}

impl Report {
    pub fn is_complete(&self) -> bool {
        self.failed.is_none()
    }
}

/// What rollback will do with one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// Put the object back as recorded (`None`: remove it).
    Restore(Option<serde_json::Value>),
    /// Another block of the same object restores it.
    SameObject,
    RunRollback,
    /// Gates and data sources: forget that they passed.
    Reset,
    /// Leave the node done, for this reason.
    Keep(String),
}

/// The nodes a rollback would visit, in order, with what it would do.
pub fn entries(cx: &Context, doc: &Lockfile, included: &[bool]) -> Vec<(NodeId, Undo)> {
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
        let undo = match (node.decl.kind, st.status) {
            (NodeKind::Resource, NodeStatus::Done | NodeStatus::Failed | NodeStatus::Started) => {
                let key = match (&st.type_name, &st.identity) {
                    (Some(t), Some(serde_json::Value::Object(m))) => {
                        object_key(t, &m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    }
                    _ => node.address.clone(),
                };
                match &st.prior {
                    _ if !objects.insert(key) => Undo::SameObject,
                    Some(serde_json::Value::Null) => Undo::Restore(None),
                    Some(p) => Undo::Restore(Some(p.clone())),
                    None if st.status == NodeStatus::Done => {
                        Undo::Keep("no prior state was recorded".into())
                    }
                    None => continue, // never got as far as changing anything
                }
            }
            (NodeKind::Step, NodeStatus::Done) => {
                if node.decl.body.block("rollback").is_some() {
                    Undo::RunRollback
                } else if node
                    .decl
                    .body
                    .attr("irreversible")
                    .and_then(|a| a.value.literal())
                    .and_then(|v| v.as_bool())
                    == Some(true)
                {
                    Undo::Keep("irreversible: it cannot be undone".into())
                } else {
                    Undo::Keep("no rollback block: its effects stay".into())
                }
            }
            (NodeKind::Gate | NodeKind::Data, NodeStatus::Done) => Undo::Reset,
            _ => continue,
        };
        out.push((id, undo));
    }
    out
}

/// Evaluates, in topological order, every node not evaluated yet (with the
/// outputs the lockfile recorded), so that rollback blocks can be evaluated.
fn evaluate_missing(cx: &Context, doc: &Lockfile, ev: &Evaluator, evals: &mut [Option<NodeEval>]) {
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
            ne.outputs = Some(s.outputs.clone());
        }
        evals[id] = Some(ne);
    }
}

/// Rolls back every completed node of the included set.
pub(crate) async fn run(
    cx: &Context<'_>,
    doc: &mut Lockfile,
    lineage: &str,
    included: &[bool],
    ev: &Evaluator<'_>,
    evals: &mut [Option<NodeEval>],
    reporter: &mut dyn Reporter,
) -> Result<Report, StateError> {
    let plan = entries(cx, doc, included);
    reporter.report(&Event::RollbackStarted { nodes: plan.len() });
    evaluate_missing(cx, doc, ev, evals);
    let mut report = Report::default();
    for (i, (id, undo)) in plan.iter().enumerate() {
        let node = &cx.spec.nodes[*id];
        let address = node.address.clone();
        let result: Result<String, String> = match undo {
            Undo::Keep(reason) => {
                reporter.report(&Event::RollbackKept {
                    address: address.clone(),
                    reason: reason.clone(),
                });
                report.kept.push((address, reason.clone()));
                continue;
            }
            Undo::Reset | Undo::SameObject => Ok(if *undo == Undo::Reset {
                "will be checked again".into()
            } else {
                "restored with its object".into()
            }),
            Undo::Restore(prior) => {
                let ne = evals[*id].as_ref();
                let identity: Attrs = doc
                    .nodes
                    .get(&address)
                    .and_then(|s| s.identity.clone())
                    .and_then(|v| serde_json::from_value(v).ok())
                    .or_else(|| ne.map(|ne| identity_of(cx, *id, ne)))
                    .unwrap_or_default();
                let desired: Option<Attrs> = prior
                    .as_ref()
                    .and_then(|p| serde_json::from_value(p.clone()).ok());
                // A secret's prior value is kept only as a digest: it cannot be put back.
                let secrets: Vec<String> = desired
                    .iter()
                    .flatten()
                    .filter(|(_, v)| v.get("sensitive_digest").is_some())
                    .map(|(k, _)| format!("`{k}`"))
                    .collect();
                let provider = if secrets.is_empty() {
                    cx.registry
                        .provider(NodeKind::Resource, &node.decl.type_name)
                } else {
                    None
                };
                match provider {
                    None if !secrets.is_empty() => Err(format!(
                        "its prior {} is sensitive and was recorded only as a digest; restore it by hand",
                        secrets.join(", ")
                    )),
                    Some(p) => p
                        .apply(&node.decl.type_name, desired.as_ref(), &identity)
                        .await
                        .map(|_| {
                            if desired.is_some() {
                                "restored to its state before the migration".into()
                            } else {
                                "removed: it did not exist before".into()
                            }
                        })
                        .map_err(|e| e.to_string()),
                    None => Err("no provider serves this type".into()),
                }
            }
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
                reporter.report(&Event::NodeRolledBack {
                    address: address.clone(),
                    detail,
                });
                report.rolled_back.push(address);
            }
            Err(error) => {
                let left: Vec<String> = plan[i..]
                    .iter()
                    .filter(|(_, u)| !matches!(u, Undo::Keep(_)))
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
    Ok(report)
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
    let timeout = ne
        .attrs
        .get("timeout")
        .and_then(|e| e.val.as_ref())
        .and_then(|v| v.as_str())
        .and_then(|s| crate::eval::duration::parse(s).ok());
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

/// `cutover rollback`: undo every completed node of the migration.
pub async fn rollback(
    cx: &Context<'_>,
    doc: &mut Lockfile,
    reporter: &mut dyn Reporter,
) -> Result<Report, StateError> {
    let ev = Evaluator::new(cx.spec);
    let mut evals = vec![None; cx.spec.nodes.len()];
    let lineage = doc.lineage.clone();
    let included = vec![true; cx.spec.nodes.len()];
    let report = run(cx, doc, &lineage, &included, &ev, &mut evals, reporter).await?;
    reporter.report(&Event::Finished {
        ok: report.is_complete(),
        summary: if report.is_complete() {
            format!(
                "Rollback complete: {} undone, {} kept.",
                report.rolled_back.len(),
                report.kept.len()
            )
        } else {
            format!("Rollback stopped: {} still to undo.", report.left.len())
        },
    });
    Ok(report)
}
