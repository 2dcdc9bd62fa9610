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
    /// Webhook URLs that receive start, wave, gate-failure, rollback and finish events.
    pub notify: Vec<String>,
}

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
        };
        let Some(m) = &root.migration else { return s };
        s.name = m.name.clone();
        let body = &m.body;
        check_attrs(
            body,
            &["description", "on_failure", "parallelism"],
            &["state", "notify"],
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
                    check_attrs(&b.body, &["webhook"], &[], "notify block", diags);
                    if let Some(url) =
                        lit(&b.body, "webhook").and_then(|v| v.as_str().map(str::to_string))
                    {
                        s.notify.push(url);
                    }
                }
                _ => {}
            }
        }
        s
    }
}

fn lit(body: &Body, name: &str) -> Option<hcl::Value> {
    body.attr(name).and_then(|a| a.value.literal())
}

fn literals(body: &Body, diags: &mut Diagnostics) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for a in &body.attrs {
        match a.value.literal() {
            Some(v) => {
                out.insert(a.name.clone(), crate::eval::to_json(&v));
            }
            None => diags.push(type_mismatch(
                &a.value,
                "a literal value (state settings cannot reference other values)",
            )),
        }
    }
    out
}
