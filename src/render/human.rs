//! The human view of a plan: waves, one line per node with its symbol and
//! reason, attribute details, the critical path and the rollback plan.

use super::values::{assignment, map_changes, multiline, show, unified};
use crate::eval::duration;
use crate::plan::{Action, Plan, PlannedNode, RollbackAction};
use std::fmt::Write as _;
use std::time::Duration;

/// ANSI styling, or none.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn action(&self, a: Action) -> String {
        let code = match a {
            Action::Create => "32",
            Action::Update => "33",
            Action::Delete => "31",
            Action::Run => "36",
            Action::Check => "34",
            Action::Changed => "35",
            Action::Done | Action::NoChange => "2",
        };
        self.paint(code, a.symbol())
    }
}

pub fn plan(plan: &Plan, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let _ = write!(
        out,
        "{}",
        st.bold(&format!("Migration \"{}\"", plan.migration))
    );
    if let Some(d) = &plan.description {
        let _ = write!(out, ": {d}");
    }
    out.push('\n');
    if !plan.targets.is_empty() {
        let _ = writeln!(
            out,
            "Limited to -target {} and its dependencies.",
            plan.targets.join(", ")
        );
    }
    if !plan.excludes.is_empty() {
        let _ = writeln!(out, "{}", super::excluded_line(plan, |a| a.to_string()));
    }
    let width = plan
        .nodes
        .iter()
        .map(|n| n.address.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for wave in 1..=plan.waves {
        let nodes: Vec<&PlannedNode> = plan.nodes.iter().filter(|n| n.wave == wave).collect();
        if nodes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}", st.bold(&format!("Wave {wave}")));
        for n in nodes {
            node(&mut out, n, width, st);
        }
    }
    if plan.critical_path.duration_ms > 0 {
        let _ = writeln!(
            out,
            "\nCritical path: {} — {}",
            duration::format(Duration::from_millis(plan.critical_path.duration_ms)),
            plan.critical_path.nodes.join(" → ")
        );
        if let Some(note) = super::duration_note(plan) {
            let _ = writeln!(out, "  {note}");
        }
    }
    fleets(&mut out, plan, st);
    rollback(&mut out, plan, st);
    if !plan.outputs.is_empty() {
        let _ = writeln!(out, "\nOutputs:");
        for (k, v) in &plan.outputs {
            let _ = writeln!(out, "  {k} = {}", show(v));
        }
    }
    let _ = writeln!(out, "\n{} {}", st.bold("Plan:"), super::summary_line(plan));
    out
}

fn node(out: &mut String, n: &PlannedNode, width: usize, st: Style) {
    let marker = if n.irreversible {
        "  (point of no return)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  {} {:<width$}  {}{marker}",
        st.action(n.action),
        n.address,
        n.reason
    );
    let changes = n.changes();
    match n.action {
        _ if !changes.is_empty() => {
            for c in changes.iter() {
                let (sym, code) = if c.before.is_none() {
                    ("+", "32")
                } else {
                    ("~", "33")
                };
                match (multiline(c.before.as_ref()), multiline(c.after.as_ref())) {
                    (Some(b), Some(a)) => {
                        let _ = writeln!(out, "      {} {}:", st.paint(code, sym), c.name);
                        diff_lines(out, &unified(b, a), st, 10);
                    }
                    (None, Some(_)) if c.before.is_none() => {
                        let block = c.after.as_ref().map(|a| assignment(8, &c.name, a));
                        let block = block.unwrap_or_default();
                        let _ = write!(out, "      {} {}", st.paint(code, sym), &block[8..]);
                    }
                    _ if map_changes(c.before.as_ref(), c.after.as_ref()).is_some() => {
                        for (k, b, a) in
                            map_changes(c.before.as_ref(), c.after.as_ref()).unwrap_or_default()
                        {
                            let key = format!("{}[{k:?}]", c.name);
                            let line = match (b, a) {
                                (Some(b), Some(a)) => {
                                    format!("{} {key} = {b} → {a}", st.paint("33", "~"))
                                }
                                (None, Some(a)) => format!("{} {key} = {a}", st.paint("32", "+")),
                                (Some(b), None) => format!("{} {key} = {b}", st.paint("31", "-")),
                                (None, None) => continue,
                            };
                            let _ = writeln!(out, "      {line}");
                        }
                    }
                    _ => {
                        let after = c.after.as_ref().map(show).unwrap_or_else(|| "null".into());
                        match &c.before {
                            Some(b) => {
                                let _ = writeln!(
                                    out,
                                    "      {} {} = {} → {after}",
                                    st.paint(code, sym),
                                    c.name,
                                    show(b)
                                );
                            }
                            None => {
                                let _ = writeln!(
                                    out,
                                    "      {} {} = {after}",
                                    st.paint(code, sym),
                                    c.name
                                );
                            }
                        }
                    }
                }
            }
        }
        Action::Run | Action::Check => {
            for (k, v) in &n.attributes {
                if matches!(k.as_str(), "description" | "expected_duration") {
                    continue;
                }
                out.push_str(&assignment(6, k, v));
            }
        }
        Action::Changed => {
            let _ = writeln!(
                out,
                "      digest now {}",
                &n.digest[..12.min(n.digest.len())]
            );
        }
        _ => {}
    }
}

fn diff_lines(out: &mut String, diff: &str, st: Style, indent: usize) {
    for line in diff.lines() {
        let painted = match line.chars().next() {
            Some('+') => st.paint("32", line),
            Some('-') => st.paint("31", line),
            Some('@') => st.paint("36", line),
            _ => line.to_string(),
        };
        let _ = writeln!(out, "{:indent$}{painted}", "");
    }
}

/// Each fleet's rules and its targets per batch (the first few of a large batch).
fn fleets(out: &mut String, plan: &Plan, st: Style) {
    const SHOWN: usize = 5;
    for f in &plan.fleets {
        let pause = if f.pause_ms > 0 {
            format!(
                ", {} pause after each batch",
                duration::format(Duration::from_millis(f.pause_ms))
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "
{} {}: {} in {}, at most {} at once, {} tolerated{pause}:",
            st.bold("Fleet"),
            f.address,
            super::count(f.targets(), "target"),
            match f.batches.len() {
                1 => "1 batch".to_string(),
                n => format!("{n} batches"),
            },
            f.max_concurrency,
            super::count(f.max_errors, "failure"),
        );
        for (i, b) in f.batches.iter().enumerate() {
            let shown: Vec<&str> = b.iter().take(SHOWN).map(String::as_str).collect();
            let more = match b.len().saturating_sub(SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let _ = writeln!(out, "  batch {}  {}{more}", i + 1, shown.join(", "));
        }
    }
}

fn rollback(out: &mut String, plan: &Plan, st: Style) {
    if plan.rollback.is_empty() {
        return;
    }
    let policy = match plan.on_failure {
        crate::spec::OnFailure::Rollback => "on_failure = \"rollback\": runs automatically",
        crate::spec::OnFailure::Stop => "on_failure = \"stop\": runs with `cutover rollback`",
    };
    let _ = writeln!(
        out,
        "\n{} ({policy}). A failure in wave N undoes what completed, newest first:",
        st.bold("Rollback plan")
    );
    let mut seen = std::collections::HashSet::new();
    let nodes: std::collections::HashMap<&str, &PlannedNode> =
        plan.nodes.iter().map(|n| (n.address.as_str(), n)).collect();
    for e in &plan.rollback {
        let text = match &e.action {
            // Several blocks of one object (a rollout's stages): it is put back once.
            RollbackAction::Restore { object, .. } if !seen.insert(object.clone()) => {
                format!("{object}: as above (one object, put back once)")
            }
            RollbackAction::Restore {
                object,
                absent: true,
            } => format!("remove {object} (it did not exist before)"),
            RollbackAction::Restore {
                object,
                absent: false,
            } => format!("restore {object} to its state before the migration"),
            RollbackAction::RunRollback => format!("run the rollback of {}", e.address),
            RollbackAction::Irreversible => format!(
                "{} cannot be undone once it has run: a point of no return",
                e.address
            ),
            RollbackAction::NoRollback => {
                format!("{} has no rollback block; its effects stay", e.address)
            }
        };
        let kept = if e.kept_after.is_empty() {
            String::new()
        } else {
            format!(" (not once {} has run)", e.kept_after.join(", "))
        };
        let _ = writeln!(out, "  wave {:<3} {text}{kept}", e.wave);
        if e.action == RollbackAction::RunRollback {
            let attrs = nodes
                .get(e.address.as_str())
                .and_then(|n| n.rollback.as_deref());
            for (k, v) in attrs.into_iter().flatten() {
                out.push_str(&assignment(13, k, v));
            }
        }
    }
    for p in plan
        .rollback
        .iter()
        .filter(|e| e.action == RollbackAction::Irreversible)
    {
        let _ = writeln!(
            out,
            "  After {} has run (wave {}), a failure undoes only: {}",
            p.address,
            p.wave,
            undone_after_list(&plan.rollback, &p.address, |a| a.to_string())
        );
    }
}

/// The entries a failure still undoes once the point of no return `address` has run, named by `name`.
pub fn undone_after_list(
    rollback: &[crate::plan::RollbackEntry],
    address: &str,
    name: impl Fn(&str) -> String,
) -> String {
    let undone = crate::plan::rollback::undone_after(rollback, address);
    if undone.is_empty() {
        return "nothing (everything before it stays)".into();
    }
    undone
        .iter()
        .map(|e| name(&e.address))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The question asked before a point of no return: what it is and every
/// statement it will run.
pub fn crossing(c: &crate::apply::Crossing) -> String {
    let mut out = format!(
        "{} is a point of no return: once it has run it cannot be undone. It runs:\n",
        c.address
    );
    for (k, v) in c.runs {
        if !matches!(
            k.as_str(),
            "description" | "expected_duration" | "irreversible"
        ) {
            out.push_str(&assignment(4, k, v));
        }
    }
    out.push_str("Run it now?");
    out
}
