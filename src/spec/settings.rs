//! The `migration` block: name, description, failure policy, parallelism,
//! state backend and notification webhooks.

use super::ast::{Body, ModuleSource};
use super::diagnostic::{Diagnostic, Diagnostics};
use super::load::{check_attrs, type_mismatch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What apply does when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    #[default]
    Rollback,
    Stop,
}

/// A `state "KIND" { … }` block: which backend keeps the lockfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateBackend {
    pub kind: String,
    pub config: BTreeMap<String, serde_json::Value>,
}

/// Settings from the `migration` block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrationSettings {
    pub name: String,
    pub description: Option<String>,
    pub on_failure: OnFailure,
    pub parallelism: Option<usize>,
    pub state: Option<StateBackend>,
    /// Webhooks that receive start, wave, approval, failure, rollback and finish events.
    pub notify: Vec<NotifySettings>,
    /// The `history {}` block: how much of each run the state keeps.
    pub history: HistorySettings,
}

/// How much run history the state keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistorySettings {
    /// Runs that keep their events; older ones keep their summary only.
    pub runs: usize,
    /// Measurements kept per gate (or throttle, or repeating step) and run:
    /// the first, the changes, the last.
    pub measurements: usize,
    /// Events one run keeps; beyond, they are counted (a fleet of 100,000
    /// nodes would otherwise write tens of megabytes of history).
    pub events: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            runs: crate::state::history::DEFAULT_RUNS,
            measurements: crate::state::history::DEFAULT_MEASUREMENTS,
            events: crate::state::history::DEFAULT_EVENTS,
        }
    }
}

/// One `notify {}` block: where to post, and which kinds of event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifySettings {
    /// The URL itself (a literal) …
    pub webhook: Option<String>,
    /// … or the environment variable that holds it at apply time, so that a
    /// webhook's secret stays out of the spec.
    pub webhook_env: Option<String>,
    pub events: Vec<String>,
}

/// The kinds of event a `notify {}` block can ask for.
pub const NOTIFY_EVENTS: &[&str] = &["start", "wave", "approval", "failure", "rollback", "finish"];

impl MigrationSettings {
    pub fn from_decl(root: &ModuleSource, diags: &mut Diagnostics) -> MigrationSettings {
        let fallback = root
            .dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "migration".into());
        let mut s = MigrationSettings {
            name: fallback,
            description: None,
            on_failure: OnFailure::Rollback,
            parallelism: None,
            state: None,
            notify: Vec::new(),
            history: HistorySettings::default(),
        };
        let Some(m) = &root.migration else { return s };
        s.name = m.name.clone();
        let body = &m.body;
        check_attrs(
            body,
            &["description", "on_failure", "parallelism"],
            &["state", "notify", "history"],
            "migration block",
            diags,
        );
        s.description = lit(body, "description").and_then(|v| v.as_str().map(str::to_string));
        if let Some(a) = body.attr("on_failure") {
            match a.value.literal().as_ref().and_then(|v| v.as_str()) {
                Some("rollback") => s.on_failure = OnFailure::Rollback,
                Some("stop") => s.on_failure = OnFailure::Stop,
                _ => diags.push(type_mismatch(&a.value, "\"rollback\" or \"stop\"")),
            }
        }
        if let Some(a) = body.attr("parallelism") {
            match a.value.literal().and_then(|v| v.as_u64()) {
                Some(n) if n > 0 => s.parallelism = Some(n as usize),
                _ => diags.push(type_mismatch(&a.value, "a whole number of at least 1")),
            }
        }
        for b in &body.blocks {
            match b.kind.as_str() {
                "state" => {
                    if b.labels.len() != 1 {
                        diags.push(
                            Diagnostic::error("Wrong number of block labels", "A state block takes one label: its backend, as in `state \"local\" { … }`.")
                                .at(Some(b.span.clone())),
                        );
                        continue;
                    }
                    s.state = Some(StateBackend {
                        kind: b.labels[0].clone(),
                        config: literals(&b.body, diags),
                    });
                }
                "notify" => {
                    if let Some(n) = notify_block(b, diags) {
                        s.notify.push(n);
                    }
                }
                "history" => s.history = history_block(&b.body, diags),
                _ => {}
            }
        }
        s
    }
}

/// A `notify { webhook | webhook_env, events }` block, checked.
fn notify_block(
    b: &crate::spec::ast::NestedBlock,
    diags: &mut Diagnostics,
) -> Option<NotifySettings> {
    check_attrs(
        &b.body,
        &["webhook", "webhook_env", "events"],
        &[],
        "notify block",
        diags,
    );
    let string = |name: &str, diags: &mut Diagnostics| -> Option<String> {
        let a = b.body.attr(name)?;
        match a.value.literal().as_ref().and_then(|v| v.as_str()) {
            Some(v) if !v.is_empty() => Some(v.to_string()),
            _ => {
                diags.push(type_mismatch(&a.value, "a non-empty string literal"));
                None
            }
        }
    };
    let webhook = string("webhook", diags);
    let webhook_env = string("webhook_env", diags);
    if b.body.attr("webhook").is_some() == b.body.attr("webhook_env").is_some() {
        diags.push(
            Diagnostic::error(
                "Invalid notify block",
                "A notify block takes either `webhook` (the URL) or `webhook_env` (the environment variable that holds it), not both or neither.",
            )
            .at(Some(b.span.clone())),
        );
        return None;
    }
    let mut events: Vec<String> = NOTIFY_EVENTS.iter().map(|e| e.to_string()).collect();
    if let Some(a) = b.body.attr("events") {
        let listed: Option<Vec<String>> = a.value.literal().and_then(|v| {
            v.as_array()?
                .iter()
                .map(|e| e.as_str().map(str::to_string))
                .collect()
        });
        match listed {
            Some(l) if l.iter().all(|e| NOTIFY_EVENTS.contains(&e.as_str())) => events = l,
            _ => diags.push(type_mismatch(
                &a.value,
                "a list of event kinds: \"start\", \"wave\", \"approval\", \"failure\", \"rollback\", \"finish\"",
            )),
        }
    }
    Some(NotifySettings {
        webhook,
        webhook_env,
        events,
    })
}

/// A `history { runs, measurements, events }` block, checked.
fn history_block(body: &Body, diags: &mut Diagnostics) -> HistorySettings {
    check_attrs(
        body,
        &["runs", "measurements", "events"],
        &[],
        "history block",
        diags,
    );
    let mut h = HistorySettings::default();
    for (name, min, max, slot) in [
        ("runs", 1, 100_000, &mut h.runs),
        ("measurements", 2, 100_000, &mut h.measurements),
        ("events", 100, 10_000_000, &mut h.events),
    ] {
        if let Some(a) = body.attr(name) {
            match a.value.literal().and_then(|v| v.as_u64()) {
                Some(n) if n >= min && n <= max => *slot = n as usize,
                _ => diags.push(type_mismatch(
                    &a.value,
                    &format!("a whole number from {min} to {max}"),
                )),
            }
        }
    }
    h
}

fn lit(body: &Body, name: &str) -> Option<hcl::Value> {
    body.attr(name).and_then(|a| a.value.literal())
}

fn literals(body: &Body, diags: &mut Diagnostics) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for a in &body.attrs {
        match a.value.literal() {
            Some(v) => {
                out.insert(a.name.clone(), serde_json::to_value(&v).unwrap_or_default());
            }
            None => diags.push(type_mismatch(
                &a.value,
                "a literal value (state settings cannot reference other values)",
            )),
        }
    }
    out
}
