//! Rendering: plans and graphs as text for people and machines — the last
//! pipeline step.
//!
//! `render` owns the human text view (colour on a TTY), the markdown view for
//! pull-request comments, JSON, graph DOT and Mermaid, and diffs of long
//! values via `similar`. It decides nothing and performs no I/O: every
//! function returns the text for the CLI to write.

pub mod graph;
pub mod history;
pub mod html;
pub mod human;
pub mod markdown;
pub mod progress;
pub mod report;
pub mod state;
mod values;

use crate::plan::Plan;
pub use crate::text::count;

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Markdown,
    Json,
}

/// The plan in `format` (`markdown` fitted and marked as `md` says).
pub fn plan(plan: &Plan, format: Format, color: bool, md: &markdown::Options) -> String {
    match format {
        Format::Human => human::plan(plan, color),
        Format::Markdown => markdown::plan(plan, md),
        Format::Json => json(plan),
    }
}

/// The plan as pretty JSON (schema: `schema/plan.schema.json`).
pub fn json(plan: &Plan) -> String {
    let mut s =
        serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// "1 to create, 2 to update, …" — the one-line summary every view shows.
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    if !s.has_changes() {
        return format!(
            "No changes. {} done, {} unchanged{}.",
            s.done,
            s.unchanged,
            if s.changed > 0 {
                format!(", {} changed since applied (not re-run)", s.changed)
            } else {
                String::new()
            }
        );
    }
    let mut line = format!(
        "{} to create, {} to update, {} to delete, {} {} to run, {} {} to check",
        s.create,
        s.update,
        s.delete,
        s.run,
        if s.run == 1 { "step" } else { "steps" },
        s.check,
        if s.check == 1 { "gate" } else { "gates" },
    );
    line.push_str(&format!("; {} done, {} unchanged", s.done, s.unchanged));
    if s.changed > 0 {
        line.push_str(&format!(
            ", {} changed since applied (not re-run)",
            s.changed
        ));
    }
    line.push('.');
    line
}

/// "Leaves out -exclude X and everything that depends on it: a, b." — named by `name`.
pub fn excluded_line(plan: &Plan, name: impl Fn(&str) -> String) -> String {
    let names = |v: &[String]| v.iter().map(|a| name(a)).collect::<Vec<_>>().join(", ");
    format!(
        "Leaves out -exclude {} and everything that depends on it ({}): {}.",
        names(&plan.excludes),
        count(plan.excluded.len(), "node"),
        names(&plan.excluded)
    )
}

/// Which durations on the critical path were recorded in earlier runs and
/// which are approvals' timeouts; `None` when every one is declared.
pub fn duration_note(plan: &Plan) -> Option<String> {
    use crate::plan::DurationSource;
    let on_path: Vec<&crate::plan::PlannedNode> = plan
        .critical_path
        .nodes
        .iter()
        .filter_map(|a| plan.node(a))
        .collect();
    let count = |s: DurationSource| {
        on_path
            .iter()
            .filter(|n| n.duration_source == Some(s))
            .count()
    };
    let (recorded, declared) = (
        count(DurationSource::Recorded),
        count(DurationSource::Declared),
    );
    let bounds: Vec<String> = on_path
        .iter()
        .filter(|n| n.duration_source == Some(DurationSource::UpperBound))
        .map(|n| {
            format!(
                "{} counts at its timeout ({}), an upper bound",
                n.address,
                crate::eval::duration::format(std::time::Duration::from_millis(
                    n.expected_duration_ms.unwrap_or(0)
                ))
            )
        })
        .collect();
    if recorded == 0 && bounds.is_empty() {
        return None;
    }
    let mut counts = Vec::new();
    if recorded > 0 {
        counts.push(format!("{recorded} recorded in earlier runs"));
    }
    if declared > 0 {
        counts.push(format!("{declared} declared"));
    }
    let mut parts = vec![counts.join(", ")];
    parts.extend(bounds);
    parts.retain(|p| !p.is_empty());
    Some(format!("Durations: {}.", parts.join("; ")))
}
