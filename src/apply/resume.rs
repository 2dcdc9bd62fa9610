//! Resume: what to do with the steps the last apply left running.
//!
//! The plan asked each step's provider how its last run ended. A step whose
//! process is still running (an `exec` step's supervisor outlived the
//! cutover that started it) is waited for here, before anything starts; a
//! step that completed is recorded done with what its provider kept; one
//! that certainly did not complete runs again, and so does a loop
//! (`repeat {}`: `until` decides where it resumes); for the rest, only
//! `idempotent = true` lets it run again — otherwise the operator decides
//! with `cutover state resolve`.

use super::context::{ApplyError, Context};
use super::{Event, Reporter};
use crate::plan::{Action, Planned};
use crate::providers::{Attrs, RunVerdict};
use crate::spec::ast::NodeKind;
use crate::spec::NodeId;
use crate::state::{Lockfile, NodeStatus};
use std::collections::{HashMap, HashSet};

/// What resuming decided beyond the plan.
pub(crate) struct Resume {
    /// Left running, certainly not completed: safe to run again.
    pub rerun_safe: HashSet<NodeId>,
    /// Completed after the apply that started them stopped: their outputs.
    pub recovered: HashMap<NodeId, Attrs>,
    /// Why a step waited for is now done, for the operator.
    pub reasons: HashMap<NodeId, String>,
}

/// Waits for the steps still running, then refuses to go on if a step left
/// running may have done part of its work and may not simply run again.
pub(crate) async fn settle(
    cx: &Context<'_>,
    planned: &Planned,
    doc: &Lockfile,
    action: &mut [Option<Action>],
    reporter: &mut dyn Reporter,
) -> Result<Resume, ApplyError> {
    let mut resume = Resume {
        rerun_safe: planned.rerun_safe.clone(),
        recovered: planned.recovered.clone(),
        reasons: HashMap::new(),
    };
    let mut running: Vec<NodeId> = planned.still_running.iter().copied().collect();
    running.sort();
    for id in running {
        let node = &cx.spec.nodes[id];
        let (Some(st), Some(p)) = (
            doc.nodes.get(&node.address),
            cx.registry.provider(NodeKind::Step, &node.decl.type_name),
        ) else {
            continue;
        };
        reporter.report(&Event::Notice {
            text: format!(
                "waiting for {}: its process from the last apply is still running",
                node.address
            ),
        });
        let run = crate::providers::run_id(
            &doc.lineage,
            &node.address,
            st.started_at.as_deref().unwrap_or(""),
        );
        match p.await_run(&node.decl.type_name, &Attrs::new(), &run).await {
            Ok(RunVerdict::Completed { why, outputs }) => {
                action[id] = Some(Action::Done);
                resume.recovered.insert(id, outputs);
                resume
                    .reasons
                    .insert(id, format!("interrupted, but {why}; recorded as done"));
            }
            Ok(RunVerdict::NotCompleted(_)) => {
                resume.rerun_safe.insert(id);
            }
            Ok(RunVerdict::Running(_) | RunVerdict::Unknown(_)) | Err(_) => {}
        }
    }
    let blocked: Vec<String> = (0..cx.spec.nodes.len())
        .filter(|&id| left_running(cx, planned, doc, action, id))
        .filter(|&id| !rerunnable(cx, planned, id) && !resume.rerun_safe.contains(&id))
        .map(|id| cx.spec.nodes[id].address.clone())
        .collect();
    if !blocked.is_empty() {
        return Err(ApplyError::ResumeBlocked { nodes: blocked });
    }
    Ok(resume)
}

/// A step the plan runs that the last apply left started or interrupted.
fn left_running(
    cx: &Context,
    planned: &Planned,
    doc: &Lockfile,
    action: &[Option<Action>],
    id: NodeId,
) -> bool {
    let node = &cx.spec.nodes[id];
    planned.included[id]
        && node.decl.kind == NodeKind::Step
        && action[id] == Some(Action::Run)
        && doc
            .nodes
            .get(&node.address)
            .is_some_and(|s| matches!(s.status, NodeStatus::Started | NodeStatus::Interrupted))
}

/// `idempotent = true` (evaluated: `idempotent = var.safe` counts), or a
/// loop (`repeat {}`): each iteration is whole and `until` decides where it
/// resumes.
fn rerunnable(cx: &Context, planned: &Planned, id: NodeId) -> bool {
    let body = &cx.spec.nodes[id].decl.body;
    let evaluated = planned
        .ids
        .iter()
        .position(|i| *i == Some(id))
        .and_then(|i| planned.plan.nodes[i].attributes.get("idempotent"))
        .and_then(|v| v.value.as_ref())
        .and_then(|v| v.as_bool());
    body.block("repeat").is_some() || evaluated == Some(true)
}
