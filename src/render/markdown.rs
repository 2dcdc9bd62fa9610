//! The markdown view of a plan, for a pull-request comment: summary line,
//! wave table, collapsible per-node details with unified diffs, a Mermaid
//! graph and the rollback plan.

use super::values::{multiline, show, unified};
use crate::eval::duration;
use crate::plan::{Action, Plan, RollbackAction};
use std::fmt::Write as _;
use std::time::Duration;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn plan(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### cutover plan: `{}`\n", plan.migration);
    if let Some(d) = &plan.description {
        let _ = writeln!(out, "{d}\n");
    }
    let _ = writeln!(out, "**Plan:** {}\n", super::summary_line(plan));
    if !plan.targets.is_empty() {
        let _ = writeln!(
            out,
            "Limited to -target {} and its dependencies.\n",
            plan.targets
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !plan.excludes.is_empty() {
        let _ = writeln!(
            out,
            "{}\n",
            super::excluded_line(plan, |a| format!("`{a}`"))
        );
    }
    if plan.critical_path.duration_ms > 0 {
        let _ = writeln!(
            out,
            "**Critical path:** {} — {}\n",
            duration::format(Duration::from_millis(plan.critical_path.duration_ms)),
            plan.critical_path
                .nodes
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" → ")
        );
    }
    let _ = writeln!(
        out,
        "| wave | action | node | reason |\n|---:|:---:|---|---|"
    );
    // Wave by wave, in declaration order within a wave.
    let mut nodes: Vec<_> = plan.nodes.iter().collect();
    nodes.sort_by_key(|n| n.wave);
    for n in &nodes {
        let pnr = if n.irreversible {
            " ⚠ point of no return"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {}{pnr} |",
            n.wave,
            n.action.symbol(),
            n.address,
            cell(&n.reason)
        );
    }
    out.push('\n');
    for n in nodes
        .iter()
        .filter(|n| n.action.is_change() || n.action == Action::Changed)
    {
        let _ = writeln!(
            out,
            "<details><summary><code>{} {}</code> — {}</summary>\n",
            n.action.symbol(),
            n.address,
            html(&n.reason)
        );
        let mut diff = String::new();
        let mut plain = String::new();
        if n.changes.is_empty() {
            for (k, v) in &n.attributes {
                let _ = writeln!(plain, "{k} = {}", show(v));
            }
        }
        for c in &n.changes {
            match (multiline(c.before.as_ref()), multiline(c.after.as_ref())) {
                (Some(b), Some(a)) => {
                    let _ = writeln!(diff, "# {}", c.name);
                    diff.push_str(&unified(b, a));
                }
                _ => {
                    if let Some(b) = &c.before {
                        let _ = writeln!(diff, "- {} = {}", c.name, show(b));
                    }
                    if let Some(a) = &c.after {
                        let _ = writeln!(diff, "+ {} = {}", c.name, show(a));
                    }
                }
            }
        }
        if !diff.is_empty() {
            let _ = writeln!(out, "```diff\n{diff}```\n");
        }
        if !plain.is_empty() {
            let _ = writeln!(out, "```hcl\n{plain}```\n");
        }
        let _ = writeln!(out, "</details>\n");
    }
    let _ = writeln!(
        out,
        "#### Graph\n\n```mermaid\n{}```\n",
        super::graph::mermaid_of_plan(plan)
    );
    for f in &plan.fleets {
        let _ = writeln!(
            out,
            "#### Fleet `{}`\n\n{} in {} batches, at most {} at once, {} failed {} tolerated, {} ms pause after each batch.\n\n| batch | targets | first targets |\n|---:|---:|---|",
            f.address,
            super::count(f.targets(), "target"),
            f.batches.len(),
            f.max_concurrency,
            f.max_errors,
            if f.max_errors == 1 { "target" } else { "targets" },
            f.pause_ms
        );
        for (i, b) in f.batches.iter().enumerate() {
            let first: Vec<String> = b.iter().take(3).map(|a| format!("`{a}`")).collect();
            let more = if b.len() > 3 { ", …" } else { "" };
            let _ = writeln!(
                out,
                "| {} | {} | {}{more} |",
                i + 1,
                b.len(),
                first.join(", ")
            );
        }
        let _ = writeln!(out);
    }
    if !plan.rollback.is_empty() {
        let _ = writeln!(out, "#### Rollback plan\n\nA failure in wave N undoes what completed, in this order:\n\n| # | wave | node | rollback |\n|---:|---:|---|---|");
        let mut seen = std::collections::HashSet::new();
        for (i, e) in plan.rollback.iter().enumerate() {
            let what = match &e.action {
                // Several blocks of one object (a rollout's stages): it is put back once.
                RollbackAction::Restore { object, .. } if !seen.insert(object.clone()) => {
                    "as above (one object, put back once)".to_string()
                }
                RollbackAction::Restore {
                    object,
                    absent: true,
                } => format!("remove {object}"),
                RollbackAction::Restore {
                    object,
                    absent: false,
                } => format!("restore {object}"),
                RollbackAction::RunRollback => "run its rollback block".into(),
                RollbackAction::Irreversible => "⚠ cannot be undone (point of no return)".into(),
                RollbackAction::NoRollback => "no rollback block; effects stay".into(),
            };
            let what = if e.kept_after.is_empty() {
                what
            } else {
                format!("{what}; kept once {} has run", e.kept_after.join(", "))
            };
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} |",
                i + 1,
                e.wave,
                e.address,
                cell(&what)
            );
        }
        out.push('\n');
        for p in plan
            .rollback
            .iter()
            .filter(|e| e.action == RollbackAction::Irreversible)
        {
            let _ = writeln!(
                out,
                "**After `{}` has run** (wave {}), a failure undoes only: {}\n",
                p.address,
                p.wave,
                super::human::undone_after_list(&plan.rollback, &p.address, |a| format!("`{a}`"))
            );
        }
    }
    out
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
