//! The rollback plan: what apply would undo, in which order, if it failed.
//!
//! Completed nodes are undone in reverse topological order: resources are
//! restored to the state they had before the migration, steps run their
//! `rollback {}` block; steps marked `irreversible` stay done. Once such a
//! point of no return has run, nothing it depends on is undone: each entry
//! names the points of no return that keep it (`kept_after`).

use super::{Action, PlannedNode, RollbackAction, RollbackEntry};
use crate::spec::ast::NodeKind;
use std::collections::{HashMap, HashSet};

/// Entries for every node the plan changes, in the order a rollback runs them.
pub fn rollback_plan(
    nodes: &[PlannedNode],
    absent_before: &HashMap<&str, bool>,
) -> Vec<RollbackEntry> {
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes.iter().rev() {
        if !matches!(n.action, Action::Create | Action::Update | Action::Run) {
            continue;
        }
        let action = match n.kind {
            NodeKind::Resource => RollbackAction::Restore {
                object: n.object.clone().unwrap_or_else(|| n.address.clone()),
                absent: absent_before
                    .get(n.address.as_str())
                    .copied()
                    .unwrap_or(true),
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
            kept_after: Vec::new(),
        });
    }
    out.shrink_to_fit();
    for p in nodes
        .iter()
        .filter(|n| n.irreversible && n.action != Action::Delete)
    {
        let ancestors = ancestors(nodes, &p.address);
        for e in out
            .iter_mut()
            .filter(|e| ancestors.contains(e.address.as_str()))
        {
            e.kept_after.push(p.address.clone());
        }
    }
    out
}

/// Everything `address` depends on, transitively, by the plan's own edges.
fn ancestors<'a>(nodes: &'a [PlannedNode], address: &str) -> HashSet<&'a str> {
    let by_address: HashMap<&str, &PlannedNode> =
        nodes.iter().map(|n| (n.address.as_str(), n)).collect();
    let mut seen = HashSet::new();
    let mut stack: Vec<&str> = by_address
        .get(address)
        .map(|n| n.depends_on.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(a) = stack.pop() {
        if let Some(n) = by_address.get(a).filter(|_| seen.insert(a)) {
            stack.extend(n.depends_on.iter().map(String::as_str));
        }
    }
    seen.into_iter()
        .filter_map(|a| by_address.get(a).map(|n| n.address.as_str()))
        .collect()
}

/// What a failure undoes once the point of no return `address` has run:
/// the entries it does not keep, other than itself.
pub fn undone_after<'a>(rollback: &'a [RollbackEntry], address: &str) -> Vec<&'a RollbackEntry> {
    rollback
        .iter()
        .filter(|e| e.address != address && !e.kept_after.iter().any(|k| k == address))
        .filter(|e| {
            !matches!(
                e.action,
                RollbackAction::Irreversible | RollbackAction::NoRollback
            )
        })
        .collect()
}
