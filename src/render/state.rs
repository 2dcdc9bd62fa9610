//! The state as `cutover show` prints it without a plan file: every node the
//! lockfile records, with its status, when it finished, its outputs or the
//! object apply left, and the migration's outputs.

use super::human::Style;
use super::values::{assignment, show};
use super::Format;
use crate::plan::PlannedValue;
use crate::state::{JsonText, Lockfile, NodeState};
use std::fmt::Write as _;

/// The state in `format`; `doc` is `None` when nothing has been applied.
pub fn view(migration: &str, doc: Option<&Lockfile>, format: Format, color: bool) -> String {
    let Some(doc) = doc else {
        return match format {
            Format::Json => "null\n".into(),
            _ => format!("No state for migration \"{migration}\": nothing has been applied.\n"),
        };
    };
    match format {
        Format::Human => human(doc, Style { color }),
        Format::Markdown => markdown(doc),
        Format::Json => {
            let v = serde_json::to_value(doc)
                .map(crate::state::lockfile::sorted)
                .unwrap_or_default();
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// A recorded value as the views show it: a salted digest is a secret.
fn recorded(v: &serde_json::Value) -> PlannedValue {
    if v.get("sensitive_digest").is_some() {
        PlannedValue {
            value: None,
            sensitive: true,
        }
    } else {
        PlannedValue::known(v.clone())
    }
}

fn status(s: &NodeState) -> String {
    serde_json::to_value(s.status)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

fn when(s: &NodeState) -> &str {
    s.finished_at
        .as_deref()
        .or(s.started_at.as_deref())
        .unwrap_or("")
}

fn human(doc: &Lockfile, st: Style) -> String {
    let mut out = format!(
        "{} serial {}, lineage {}\n",
        st.bold(&format!("Migration \"{}\":", doc.migration)),
        doc.serial,
        doc.lineage
    );
    let width = doc
        .nodes
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    for (addr, s) in &doc.nodes {
        let _ = writeln!(out, "\n  {addr:<width$}  {:<12} {}", status(s), when(s));
        if let Some(e) = &s.error {
            let _ = writeln!(out, "      error: {e}");
        }
        let object = s.applied.as_ref().and_then(JsonText::object);
        for (k, v) in s.outputs().iter().chain(object.iter().flatten()) {
            out.push_str(&assignment(6, k, &recorded(v)));
        }
    }
    if !doc.outputs.is_empty() {
        let _ = writeln!(out, "\nOutputs:");
        for (k, v) in &doc.outputs {
            out.push_str(&assignment(2, k, &recorded(v)));
        }
    }
    out
}

fn markdown(doc: &Lockfile) -> String {
    let mut out = format!(
        "### cutover state: `{}`\n\nSerial {}, lineage `{}`.\n\n| node | status | at |\n|---|---|---|\n",
        doc.migration, doc.serial, doc.lineage
    );
    for (addr, s) in &doc.nodes {
        let _ = writeln!(out, "| `{addr}` | {} | {} |", status(s), when(s));
    }
    if !doc.outputs.is_empty() {
        out.push_str("\n| output | value |\n|---|---|\n");
        for (k, v) in &doc.outputs {
            let _ = writeln!(
                out,
                "| `{k}` | `{}` |",
                show(&recorded(v)).replace('|', "\\|").replace('\n', " ")
            );
        }
    }
    out
}
