//! The rollback plan: what apply would undo, in which order, if it failed.
//!
//! Completed nodes are undone in reverse topological order: resources are
//! restored to the state they had before the migration, steps run their
//! `rollback {}` block; steps marked `irreversible` stay done.

use super::{Action, PlannedNode, RollbackAction, RollbackEntry};
use crate::spec::ast::NodeKind;
use std::collections::HashMap;

/// Entries for every node the plan changes, in the order a rollback runs them.
pub fn rollback_plan(
    nodes: &[PlannedNode],
    absent_before: &HashMap<String, bool>,
) -> Vec<RollbackEntry> {
    let mut out = Vec::new();
    for n in nodes.iter().rev() {
        if !matches!(n.action, Action::Create | Action::Update | Action::Run) {
            continue;
        }
        let action = match n.kind {
            NodeKind::Resource => RollbackAction::Restore {
                object: n.object.clone().unwrap_or_else(|| n.address.clone()),
                absent: absent_before.get(&n.address).copied().unwrap_or(true),
            },
            NodeKind::Step if n.rollback.is_some() => RollbackAction::RunRollback,
            NodeKind::Step if n.irreversible => RollbackAction::Irreversible,
            NodeKind::Step => RollbackAction::NoRollback,
            NodeKind::Gate | NodeKind::Data => continue,
        };
        out.push(RollbackEntry {
            address: n.address.clone(),
            wave: n.wave,
            action,
        });
    }
    out
}
