//! The markdown view of a plan, for a pull-request comment: a marker a bot
//! can find, a banner for points of no return and deletions, the summary,
//! the rollback plan with every rollback statement, then the wave table,
//! collapsible per-node details with unified diffs, a Mermaid graph and the
//! fleets. Instances of one block are folded into one row when there are
//! many, and when the whole text is longer than the budget the middle is
//! cut — never the summary or the rollback plan — saying what was left out.

use super::values::{assignment, fenced, multiline, show, unified};
use crate::eval::duration;
use crate::plan::{Action, Attributes, Plan, PlannedNode, RollbackAction, RollbackEntry};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The default budget: a GitHub comment holds 65,536 characters.
pub const DEFAULT_MAX_BYTES: usize = 65_000;
/// The budget of `--summary` (`$GITHUB_STEP_SUMMARY` holds 1 MiB).
pub const SUMMARY_MAX_BYTES: usize = 1_000_000;
/// Instances of one block fold into one row from this many on.
const FOLD_FROM: usize = 10;
/// Room kept for the note that says what was left out.
const NOTE_ROOM: usize = 600;

/// How the markdown is fitted and marked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The longest text to produce, in bytes.
    pub max_bytes: usize,
    /// The migration's directory, for the hidden marker
    /// `<!-- cutover:plan:MIGRATION:DIR -->`; `None`: no marker.
    pub marker_dir: Option<String>,
    /// Where the whole plan can be read when this text is cut.
    pub full_plan_at: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_bytes: usize::MAX,
            marker_dir: None,
            full_plan_at: "`cutover show --format markdown PLANFILE`, or the CI log".into(),
        }
    }
}

/// A part of the text that may be cut item by item.
struct Section {
    open: String,
    items: Vec<String>,
    close: String,
    noun: &'static str,
}

impl Section {
    fn len(&self) -> usize {
        self.open.len() + self.close.len() + self.items.iter().map(String::len).sum::<usize>()
    }
}

pub fn plan(plan: &Plan, opts: &Options) -> String {
    let nodes: HashMap<&str, &PlannedNode> =
        plan.nodes.iter().map(|n| (n.address.as_str(), n)).collect();
    let sections: Vec<Section> = [
        rollback_table(plan),
        rollback_statements(plan, &nodes),
        after_points(plan),
        wave_table(plan),
        details(plan),
        graph(plan),
        fleets(plan),
    ]
    .into_iter()
    .flatten()
    .collect();
    fit(top(plan, opts), sections, opts)
}

/// Everything, when it fits; otherwise the top and as much of each section,
/// in order, as the budget allows, and a note of what was left out.
fn fit(top: String, sections: Vec<Section>, opts: &Options) -> String {
    let full = top.len() + sections.iter().map(Section::len).sum::<usize>();
    if full <= opts.max_bytes {
        let mut out = top;
        for s in sections {
            out.push_str(&s.open);
            s.items.iter().for_each(|i| out.push_str(i));
            out.push_str(&s.close);
        }
        return out;
    }
    let mut budget = opts.max_bytes.saturating_sub(top.len() + NOTE_ROOM);
    let mut body = String::new();
    let mut left_out = Vec::new();
    for s in sections {
        const CUT_LINE: usize = 80;
        if s.open.len() + s.close.len() + CUT_LINE > budget {
            left_out.push(crate::text::count(s.items.len(), s.noun));
            continue;
        }
        budget -= s.open.len() + s.close.len() + CUT_LINE;
        body.push_str(&s.open);
        let mut kept = 0;
        for item in &s.items {
            if item.len() > budget {
                break;
            }
            budget -= item.len();
            body.push_str(item);
            kept += 1;
        }
        if kept < s.items.len() {
            let rest = crate::text::count(s.items.len() - kept, s.noun);
            if !body.ends_with("\n\n") {
                body.push('\n');
            }
            let _ = writeln!(body, "_… {rest} left out to fit._\n");
            left_out.push(rest);
        }
        body.push_str(&s.close);
    }
    let note = format!(
        "> [!NOTE]\n> This plan is {full} bytes, more than the {} a comment may hold, so parts of it are left out: {}. Read the whole plan with {}.\n\n",
        opts.max_bytes,
        left_out.join(", "),
        opts.full_plan_at
    );
    let mut out = top + &note + &body;
    if out.len() > opts.max_bytes {
        let mut end = opts.max_bytes;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

fn code_list(addrs: &[&str], most: usize) -> String {
    let mut shown: Vec<String> = addrs.iter().take(most).map(|a| format!("`{a}`")).collect();
    if addrs.len() > most {
        shown.push(format!("and {} more", addrs.len() - most));
    }
    shown.join(", ")
}

/// The marker, title, banners, summary and critical path: never cut.
fn top(plan: &Plan, opts: &Options) -> String {
    let mut out = String::new();
    if let Some(dir) = &opts.marker_dir {
        let _ = writeln!(out, "<!-- cutover:plan:{}:{dir} -->", plan.migration);
    }
    let _ = writeln!(out, "### cutover plan: `{}`\n", plan.migration);
    let points: Vec<&str> = plan
        .nodes
        .iter()
        .filter(|n| n.irreversible && n.action.is_change())
        .map(|n| n.address.as_str())
        .collect();
    if !points.is_empty() {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> **This plan crosses {}:** {} cannot be undone once run; a failure after one no longer undoes what it depends on.\n",
            match points.len() {
                1 => "a point of no return".to_string(),
                n => format!("{n} points of no return"),
            },
            code_list(&points, 10)
        );
    }
    let deletes: Vec<&str> = plan
        .nodes
        .iter()
        .filter(|n| n.action == Action::Delete)
        .map(|n| n.address.as_str())
        .collect();
    if !deletes.is_empty() {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> **This plan deletes:** {}.\n",
            code_list(&deletes, 10)
        );
    }
    if let Some(d) = &plan.description {
        let _ = writeln!(out, "{d}\n");
    }
    let _ = writeln!(out, "**Plan:** {}\n", super::summary_line(plan));
    if !plan.targets.is_empty() {
        let targets: Vec<&str> = plan.targets.iter().map(String::as_str).collect();
        let _ = writeln!(
            out,
            "Limited to -target {} and its dependencies.\n",
            code_list(&targets, usize::MAX)
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
        let cp: Vec<&str> = plan
            .critical_path
            .nodes
            .iter()
            .map(String::as_str)
            .collect();
        let _ = writeln!(
            out,
            "**Critical path:** {} — {}\n",
            duration::format(Duration::from_millis(plan.critical_path.duration_ms)),
            code_list(&cp, 20).replace(", ", " → ")
        );
        if let Some(note) = super::duration_note(plan) {
            let _ = writeln!(out, "{note}\n");
        }
    }
    out
}

/// Items in order, with the instances of one block that share `key` folded
/// into one entry at the first one's place when there are many of them.
fn fold<T>(items: &[T], key: impl Fn(&T) -> String) -> Vec<Vec<&T>> {
    let keys: Vec<String> = items.iter().map(&key).collect();
    let mut members: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        members.entry(k.as_str()).or_default().push(i);
    }
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let m = &members[k.as_str()];
        if m.len() < FOLD_FROM {
            out.push(vec![&items[i]]);
        } else if m[0] == i {
            out.push(m.iter().map(|&j| &items[j]).collect());
        }
    }
    out
}

/// How a folded group is named: the block's address with `[*]` for the
/// instance keys, how many, and the first and last keys.
fn group_name(addrs: &[&str]) -> String {
    let (pattern, first) = crate::addr::pattern(addrs[0]);
    if addrs.len() == 1 {
        return format!("`{}`", addrs[0]);
    }
    if addrs.iter().any(|a| crate::addr::pattern(a).0 != pattern) {
        return format!("{} nodes: {}", addrs.len(), code_list(addrs, 10));
    }
    let (_, last) = crate::addr::pattern(addrs[addrs.len() - 1]);
    format!(
        "`{pattern}` × {} (`{}` … `{}`)",
        addrs.len(),
        first.concat(),
        last.concat()
    )
}

fn numbers(ix: &[usize]) -> String {
    match ix {
        [one] => one.to_string(),
        [first, .., last] if last - first + 1 == ix.len() => format!("{first}–{last}"),
        [first, second, ..] => format!("{first}, {second}, …"),
        [] => String::new(),
    }
}

/// A markdown table cell: one line, no pipes.
pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn rollback_what(e: &RollbackEntry, seen: &mut std::collections::HashSet<String>) -> String {
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
        RollbackAction::RunRollback => "run its rollback block (below)".into(),
        RollbackAction::Irreversible => "⚠ cannot be undone (point of no return)".into(),
        RollbackAction::NoRollback => "no rollback block; effects stay".into(),
    };
    if e.kept_after.is_empty() {
        what
    } else {
        let kept: Vec<&str> = e.kept_after.iter().map(String::as_str).collect();
        format!("{what}; kept once {} has run", code_list(&kept, 5))
    }
}

fn rollback_table(plan: &Plan) -> Option<Section> {
    if plan.rollback.is_empty() {
        return None;
    }
    let policy = match plan.on_failure {
        crate::spec::OnFailure::Rollback => "runs automatically (`on_failure = \"rollback\"`)",
        crate::spec::OnFailure::Stop => "runs with `cutover rollback` (`on_failure = \"stop\"`)",
    };
    let numbered: Vec<(usize, &RollbackEntry)> = plan.rollback.iter().enumerate().collect();
    let groups = fold(&numbered, |(_, e)| {
        if e.action == RollbackAction::NoRollback {
            // Steps without a rollback block: one row says it for all of them.
            return format!("no rollback|{}", e.kept_after.is_empty());
        }
        format!(
            "{}|{:?}|{}",
            crate::addr::pattern(&e.address).0,
            std::mem::discriminant(&e.action),
            e.kept_after.is_empty()
        )
    });
    let folded = groups.iter().any(|g| g.len() > 1);
    let mut seen = std::collections::HashSet::new();
    let items = groups
        .iter()
        .map(|g| {
            let (_, first) = g[0];
            let ix: Vec<usize> = g.iter().map(|(i, _)| i + 1).collect();
            let addrs: Vec<&str> = g.iter().map(|(_, e)| e.address.as_str()).collect();
            let mut waves: Vec<u32> = g.iter().map(|(_, e)| e.wave).collect();
            waves.dedup();
            let what = match (&first.action, g.len()) {
                (RollbackAction::NoRollback, n) if n > 1 => {
                    "no rollback blocks; their effects stay".to_string()
                }
                (RollbackAction::Restore { object, .. }, n) if n > 1 => {
                    format!("put back each one's object (the first: {object})")
                }
                _ => rollback_what(first, &mut seen),
            };
            let wave = match waves.as_slice() {
                [w] => w.to_string(),
                [w, .., l] => format!("{w}–{l}"),
                [] => String::new(),
            };
            format!(
                "| {} | {wave} | {} | {} |\n",
                numbers(&ix),
                group_name(&addrs),
                cell(&what)
            )
        })
        .collect();
    let fold_note = if folded {
        " A row of many nodes stands for each of them; instances of one block are undone in this order among their own nodes."
    } else {
        ""
    };
    Some(Section {
        open: format!("#### Rollback plan\n\nRollback {policy}. A failure in wave N undoes what completed, in this order:{fold_note}\n\n| # | wave | node | rollback |\n|---:|---:|---|---|\n"),
        items,
        close: "\n".into(),
        noun: "rollback row",
    })
}

/// Attributes as markdown: the one-line ones in an `hcl` block, each
/// multi-line one (SQL, a script) in a fenced block of its own.
fn attributes(attrs: &Attributes) -> String {
    let mut lines = String::new();
    let mut blocks = String::new();
    for (k, v) in attrs {
        if matches!(k.as_str(), "description" | "expected_duration") {
            continue;
        }
        match multiline(Some(v)) {
            Some(text) => {
                let _ = write!(blocks, "`{k}`:\n\n{}\n", fenced(k, text));
            }
            None => lines.push_str(&assignment(0, k, v)),
        }
    }
    if lines.is_empty() {
        return blocks;
    }
    format!("{}\n{blocks}", fenced("hcl", &lines))
}

fn rollback_statements(plan: &Plan, nodes: &HashMap<&str, &PlannedNode>) -> Option<Section> {
    let runs: Vec<(&str, &Attributes)> = plan
        .rollback
        .iter()
        .filter(|e| e.action == RollbackAction::RunRollback)
        .filter_map(|e| {
            let n = nodes.get(e.address.as_str())?;
            Some((e.address.as_str(), n.rollback.as_deref()?))
        })
        .collect();
    if runs.is_empty() {
        return None;
    }
    let items = fold(&runs, |(a, _)| crate::addr::pattern(a).0)
        .into_iter()
        .map(|g| {
            let addrs: Vec<&str> = g.iter().map(|(a, _)| *a).collect();
            let text = attributes(g[0].1);
            let same = g.iter().all(|(_, r)| attributes(r) == text);
            let which = match (g.len(), same) {
                (1, _) => String::new(),
                (_, true) => " — the same for every one".into(),
                (_, false) => format!(
                    " — as for `{}`; the others differ only in their own values",
                    addrs[0]
                ),
            };
            format!(
                "**{}** rolls back with{which}:\n\n{text}",
                group_name(&addrs)
            )
        })
        .collect();
    Some(Section {
        open: "#### Rollback statements\n\n".into(),
        items,
        close: String::new(),
        noun: "rollback statement",
    })
}

fn after_points(plan: &Plan) -> Option<Section> {
    let points: Vec<&RollbackEntry> = plan
        .rollback
        .iter()
        .filter(|e| e.action == RollbackAction::Irreversible)
        .collect();
    if points.is_empty() {
        return None;
    }
    let items = fold(&points, |p| crate::addr::pattern(&p.address).0)
        .into_iter()
        .map(|g| {
            let p = g[0];
            let undone: Vec<String> =
                crate::plan::rollback::undone_after(&plan.rollback, &p.address)
                    .iter()
                    .map(|e| e.address.clone())
                    .collect();
            let undone: Vec<&str> = undone.iter().map(String::as_str).collect();
            let list = if undone.is_empty() {
                "nothing (everything before it stays)".to_string()
            } else {
                code_list(&undone, 20)
            };
            let likewise = match g.len() {
                1 => String::new(),
                n => format!(" (and likewise for the {} other instances)", n - 1),
            };
            format!(
                "**After `{}` has run** (wave {}), a failure undoes only: {list}{likewise}\n\n",
                p.address, p.wave
            )
        })
        .collect();
    Some(Section {
        open: String::new(),
        items,
        close: String::new(),
        noun: "point-of-no-return note",
    })
}

fn by_wave(plan: &Plan) -> Vec<&PlannedNode> {
    let mut nodes: Vec<&PlannedNode> = plan.nodes.iter().collect();
    nodes.sort_by_key(|n| n.wave);
    nodes
}

fn wave_table(plan: &Plan) -> Option<Section> {
    let nodes = by_wave(plan);
    let items = fold(&nodes, |n| {
        format!("{}|{:?}", crate::addr::pattern(&n.address).0, n.action)
    })
    .into_iter()
    .map(|g| {
        let n = g[0];
        let pnr = if n.irreversible {
            " ⚠ point of no return"
        } else {
            ""
        };
        let waves = numbers_u32(g.iter().map(|n| n.wave));
        let addrs: Vec<&str> = g.iter().map(|n| n.address.as_str()).collect();
        let reason = if g.iter().all(|m| m.reason == n.reason) {
            n.reason.clone()
        } else {
            format!("{} (the first; others vary)", n.reason)
        };
        format!(
            "| {waves} | `{}` | {} | {}{pnr} |\n",
            n.action.symbol(),
            group_name(&addrs),
            cell(&reason)
        )
    })
    .collect();
    Some(Section {
        open: "#### Waves\n\n| wave | action | node | reason |\n|---:|:---:|---|---|\n".into(),
        items,
        close: "\n".into(),
        noun: "wave table row",
    })
}

fn numbers_u32(waves: impl Iterator<Item = u32>) -> String {
    let mut w: Vec<u32> = waves.collect();
    w.sort_unstable();
    w.dedup();
    match w.as_slice() {
        [one] => one.to_string(),
        [first, .., last] => format!("{first}–{last}"),
        [] => String::new(),
    }
}

fn node_details(n: &PlannedNode) -> String {
    let mut out = String::new();
    let mut diff = String::new();
    let changes = n.changes();
    for c in changes.iter() {
        match (multiline(c.before.as_ref()), multiline(c.after.as_ref())) {
            (Some(b), Some(a)) => {
                let _ = writeln!(diff, "# {}", c.name);
                diff.push_str(&unified(b, a));
            }
            (None, Some(a)) if c.before.is_none() => {
                for line in a.lines() {
                    let _ = writeln!(diff, "+ {line}");
                }
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
        let _ = writeln!(out, "{}", fenced("diff", &diff));
    }
    if changes.is_empty() {
        out.push_str(&attributes(&n.attributes));
    }
    out
}

fn details(plan: &Plan) -> Option<Section> {
    let nodes: Vec<&PlannedNode> = by_wave(plan)
        .into_iter()
        .filter(|n| n.action.is_change() || n.action == Action::Changed)
        .collect();
    if nodes.is_empty() {
        return None;
    }
    let items = fold(&nodes, |n| {
        format!("{}|{:?}", crate::addr::pattern(&n.address).0, n.action)
    })
    .into_iter()
    .map(|g| {
        let n = g[0];
        let addrs: Vec<&str> = g.iter().map(|n| n.address.as_str()).collect();
        let body = node_details(n);
        let which = match g.len() {
            1 => String::new(),
            _ if g.iter().all(|m| node_details(m) == body) => {
                format!("<p>The same for all {}.</p>\n\n", g.len())
            }
            _ => format!(
                "<p>As for <code>{}</code>; the others differ only in their own values.</p>\n\n",
                html(n.address.as_str())
            ),
        };
        format!(
            "<details><summary><code>{} {}</code> — {}</summary>\n\n{which}{body}</details>\n\n",
            n.action.symbol(),
            html(&group_name(&addrs).replace('`', "")),
            html(&n.reason)
        )
    })
    .collect();
    Some(Section {
        open: "#### What each node does\n\n".into(),
        items,
        close: String::new(),
        noun: "node detail",
    })
}

fn graph(plan: &Plan) -> Option<Section> {
    Some(Section {
        open: String::new(),
        items: vec![format!(
            "#### Graph\n\n```mermaid\n{}```\n\n",
            super::graph::mermaid_of_plan(plan)
        )],
        close: String::new(),
        noun: "graph",
    })
}

fn fleets(plan: &Plan) -> Option<Section> {
    if plan.fleets.is_empty() {
        return None;
    }
    let items = plan.fleets.iter().map(|f| {
        let mut out = format!(
            "#### Fleet `{}`\n\n{} in {} batches, at most {} at once, {} failed {} tolerated, {} ms pause after each batch.\n\n| batch | targets | first targets |\n|---:|---:|---|\n",
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
            let _ = writeln!(out, "| {} | {} | {}{more} |", i + 1, b.len(), first.join(", "));
        }
        out.push('\n');
        out
    });
    Some(Section {
        open: String::new(),
        items: items.collect(),
        close: String::new(),
        noun: "fleet",
    })
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
