//! Saved plans (`plan -out FILE`): the plan as JSON, with its fingerprint.

use super::Plan;
use std::path::Path;

/// Why a saved plan could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read plan file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a cutover plan file: {reason}")]
    Invalid { path: String, reason: String },
}

/// Writes `plan` to `path` atomically.
pub fn save(plan: &Plan, path: &Path) -> Result<(), SavedPlanError> {
    let text = serde_json::to_string_pretty(plan).map_err(|e| SavedPlanError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    crate::providers::local::write_atomic(path, format!("{text}\n").as_bytes(), None).map_err(
        |source| SavedPlanError::Io {
            path: path.display().to_string(),
            source,
        },
    )
}

/// Reads a plan saved by [`save`].
pub fn load(path: &Path) -> Result<Plan, SavedPlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| SavedPlanError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// What differs between a saved plan and a fresh one; empty when the saved plan is current.
pub fn staleness(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut why = Vec::new();
    if saved.spec_digest != fresh.spec_digest {
        why.push("the spec files changed".to_string());
    }
    if saved.lockfile_serial != fresh.lockfile_serial {
        why.push(format!(
            "the lockfile changed (serial {} → {})",
            saved
                .lockfile_serial
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into()),
            fresh
                .lockfile_serial
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    for (addr, d) in &fresh.observed {
        if saved.observed.get(addr) != Some(d) {
            why.push(format!("{addr} changed since the plan was made"));
        }
    }
    for addr in saved.observed.keys() {
        if !fresh.observed.contains_key(addr) {
            why.push(format!("{addr} is no longer observed"));
        }
    }
    for n in &fresh.nodes {
        match saved.node(&n.address) {
            Some(s) if s.digest != n.digest => why.push(format!(
                "{} evaluates differently (variables or inputs changed)",
                n.address
            )),
            None => why.push(format!("{} is new", n.address)),
            _ => {}
        }
    }
    if why.is_empty() && saved.fingerprint != fresh.fingerprint {
        why.push("the plan's fingerprint differs".into());
    }
    why
}
