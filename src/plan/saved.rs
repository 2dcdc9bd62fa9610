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

/// What a plan file holds: the plan, its format version and a checksum of
/// the plan's JSON, so that an edited or damaged file is refused.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    format_version: u32,
    sha256: String,
    plan: serde_json::Value,
}

fn checksum(plan: &serde_json::Value) -> String {
    let text = serde_json::to_string(plan).unwrap_or_default();
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))
}

/// Writes `plan` to `path` atomically.
pub fn save(plan: &Plan, path: &Path) -> Result<(), SavedPlanError> {
    let invalid = |e: serde_json::Error| SavedPlanError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut value = serde_json::to_value(plan).map_err(invalid)?;
    crate::eval::redact::mask_json(&mut value);
    let envelope = Envelope {
        format_version: super::PLAN_FORMAT_VERSION,
        sha256: checksum(&value),
        plan: value,
    };
    let text = serde_json::to_string_pretty(&envelope).map_err(invalid)?;
    crate::providers::local::write_atomic(path, format!("{text}\n").as_bytes(), Some(0o600))
        .map_err(|source| SavedPlanError::Io {
            path: path.display().to_string(),
            source,
        })
}

/// Reads a plan saved by [`save`]: one from a newer cutover, or whose
/// content does not match its checksum, is refused.
pub fn load(path: &Path) -> Result<Plan, SavedPlanError> {
    let invalid = |reason: String| SavedPlanError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let envelope: Envelope = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if envelope.format_version > super::PLAN_FORMAT_VERSION {
        return Err(invalid(format!(
            "it was saved by a newer cutover (plan format {}; this one reads {}); plan again with this version",
            envelope.format_version,
            super::PLAN_FORMAT_VERSION
        )));
    }
    if checksum(&envelope.plan) != envelope.sha256 {
        return Err(invalid(
            "its content does not match its checksum: it was edited or damaged after it was saved; plan again".into(),
        ));
    }
    serde_json::from_value(envelope.plan).map_err(|e| invalid(e.to_string()))
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
