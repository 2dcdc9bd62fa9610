//! The lockfile document: `cutover.lock`, pretty JSON with sorted keys.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The lockfile format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The file name of the local lockfile, beside the spec.
pub const LOCKFILE_NAME: &str = "cutover.lock";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid cutover lockfile: {reason}. It was left untouched; restore it from version control or move it aside")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} has format version {found}, newer than this cutover understands ({FORMAT_VERSION}); upgrade cutover")]
    TooNew { path: PathBuf, found: u32 },
    #[error("{path} belongs to migration \"{found}\", not \"{expected}\"; use another directory or state key")]
    Foreign {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("the state is locked: {holder}. Wait for it to finish, retry with -lock-timeout, or if that process is gone run `cutover force-unlock {}`", holder.id)]
    Locked { holder: Box<super::lock::LockInfo> },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{journal} is damaged at line {line}: {reason}. Nothing was read or changed, and the files were left untouched: a record lost before the end could make a step run twice. `cutover state repair` shows which records it would keep and which it would drop")]
    JournalDamaged {
        journal: String,
        line: usize,
        reason: String,
    },
    #[error("{journal} belongs to another lineage ({found}) than the state ({expected}): it is from another run of this migration or another copy of its state. It was left untouched; `cutover state repair` shows what it holds")]
    ForeignJournal {
        journal: String,
        found: String,
        expected: String,
    },
    #[error("{0}")]
    Other(String),
}

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Pending,
    Started,
    Done,
    Failed,
    RolledBack,
    Skipped,
    /// It completed, but something it depended on was rolled back since:
    /// it runs again on the next apply (`error` says why).
    Invalidated,
    /// It was cancelled part-way by an interrupt: treated on resume like a
    /// step found `started` after a crash.
    Interrupted,
}

/// A JSON value kept as its compact text. A lockfile holds one for each
/// node's objects and outputs and each history event: parsed, every object
/// in them is a hash or B-tree map several times its text's size (at 100,000
/// nodes, most of the state's memory). Parsed again where it is used.
#[derive(Clone)]
pub struct JsonText(Box<str>);

impl JsonText {
    /// Any value that is JSON (a map with other than string keys is not: `null`).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> JsonText {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        JsonText(text.into_boxed_str())
    }

    /// The value; the text is always one (it is only ever made from a value).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// The value as an object's attributes, when it is an object.
    pub fn object(&self) -> Option<crate::providers::Attrs> {
        self.read().ok()
    }

    /// The value read as `T`.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The compact text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_null(&self) -> bool {
        &*self.0 == "null"
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(value: serde_json::Value) -> JsonText {
        JsonText::of(&value)
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Equal as values: the same object may have been written in another key order.
impl PartialEq for JsonText {
    fn eq(&self, other: &JsonText) -> bool {
        self.0 == other.0 || self.value() == other.value()
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonText, D::Error> {
        serde_json::Value::deserialize(d).map(|v| JsonText::of(&v))
    }
}

/// What the lockfile records for one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    pub status: NodeStatus,
    /// sha256 of the node's evaluated definition when it last ran.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Outputs of a step, observed state of a data source: an object
    /// (absent: none). See [`NodeState::outputs`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "outputs",
        deserialize_with = "present"
    )]
    pub outputs_text: Option<JsonText>,
    /// A resource's object before the migration first changed it (`null`: it did not exist).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub prior: Option<JsonText>,
    /// A resource's object as apply left it (`null`: removed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub applied: Option<JsonText>,
    /// Identity attributes of a resource's object, so it can be restored after its block is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<JsonText>,
    /// Why the node failed, was skipped, invalidated or interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A step that ran as a point of no return (`irreversible`, no rollback):
    /// nothing it depends on is undone once it is done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub irreversible: bool,
    /// A repeating step's progress: carried on when its loop resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// How far a repeating step's loop has come.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub iterations: u64,
    pub rows: u64,
}

/// The whole lockfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub format_version: u32,
    pub migration: String,
    pub lineage: String,
    pub serial: u64,
    pub spec_digest: String,
    #[serde(deserialize_with = "packed")]
    pub nodes: BTreeMap<String, NodeState>,
    /// Root outputs after the last apply (sensitive ones as salted digests).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// Every apply and rollback, oldest first (old ones compacted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<super::history::Run>,
}

impl NodeState {
    pub fn new(status: NodeStatus, digest: &str) -> NodeState {
        NodeState {
            status,
            digest: digest.to_string(),
            kind: None,
            type_name: None,
            started_at: None,
            finished_at: None,
            outputs_text: None,
            prior: None,
            applied: None,
            identity: None,
            error: None,
            irreversible: false,
            progress: None,
        }
    }
}

impl NodeState {
    /// What the types alone do not check: timestamps that are timestamps,
    /// outputs that are an object.
    pub fn check(&self) -> Result<(), String> {
        if self
            .outputs_text
            .as_ref()
            .is_some_and(|o| !o.0.starts_with('{'))
        {
            return Err("its outputs are not an object".into());
        }
        for (name, t) in [
            ("started_at", &self.started_at),
            ("finished_at", &self.finished_at),
        ] {
            if let Some(t) = t.as_deref() {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map_err(|e| format!("{name} \"{t}\" is not an RFC 3339 timestamp ({e})"))?;
            }
        }
        Ok(())
    }

    /// A step's outputs, a data source's observed state.
    pub fn outputs(&self) -> crate::providers::Attrs {
        self.outputs_text
            .as_ref()
            .and_then(JsonText::object)
            .unwrap_or_default()
    }

    /// The outputs as text: `{}` when there are none.
    pub fn outputs_json(&self) -> JsonText {
        self.outputs_text
            .clone()
            .unwrap_or_else(|| JsonText("{}".into()))
    }

    pub fn set_outputs(&mut self, outputs: &serde_json::Map<String, serde_json::Value>) {
        self.outputs_text = (!outputs.is_empty()).then(|| JsonText::of(outputs));
    }
}

/// The nodes, read into a vector and then built into their map at once: a
/// map filled entry by entry from sorted keys leaves its nodes half empty
/// (at 100,000 nodes, about 38 MB more). A repeated address keeps its last state.
fn packed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, NodeState>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<(String, NodeState)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of node addresses to their states")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(entry) = m.next_entry()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    Ok(d.deserialize_map(Entries)?.into_iter().collect())
}

/// A field that is present is `Some`, even when it is `null` (an object that
/// did not exist); a missing field is `None` (nothing recorded).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A JSON value with every object's keys sorted, recursively.
pub fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

impl Lockfile {
    /// An empty document for a new migration run.
    pub fn new(migration: &str, lineage: &str) -> Lockfile {
        Lockfile {
            format_version: FORMAT_VERSION,
            migration: migration.to_string(),
            lineage: lineage.to_string(),
            serial: 0,
            spec_digest: String::new(),
            nodes: BTreeMap::new(),
            outputs: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    /// The document as pretty JSON with sorted keys, newline-terminated.
    pub fn to_json(&self) -> String {
        let mut v = sorted(serde_json::to_value(self).unwrap_or_default());
        // Free text (errors, a command's stdout) may quote a secret: masked on the way out.
        crate::eval::redact::mask_json(&mut v);
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }
    /// Reads the lockfile at `path`; `Ok(None)` when there is none (nothing applied yet).
    pub fn read(path: &Path, migration: &str) -> Result<Option<Lockfile>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        Lockfile::parse(&text, path, migration).map(Some)
    }

    /// What the types alone do not check: a lineage, and timestamps that are timestamps.
    fn check(&self) -> Result<(), String> {
        if self.lineage.is_empty() {
            return Err("its lineage is empty".into());
        }
        for (address, n) in &self.nodes {
            n.check().map_err(|e| format!("{address}: {e}"))?;
        }
        Ok(())
    }

    /// Parses and checks a lockfile document: its format version first
    /// (read alone, the rest skipped), then the document straight into its
    /// types — never as a generic JSON tree beside them, which at 100,000
    /// nodes was several times the file's size.
    pub fn parse(text: &str, path: &Path, migration: &str) -> Result<Lockfile, StateError> {
        /// The one field read before the rest: a newer format may not parse.
        #[derive(Deserialize)]
        struct Header {
            #[serde(default, deserialize_with = "present")]
            format_version: Option<serde_json::Value>,
        }
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.into(),
            reason,
        };
        let header: Header = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        let version = match header.format_version.map(|v| v.as_u64()) {
            Some(Some(v)) if v >= 1 => v.min(u32::MAX as u64) as u32,
            Some(_) => return Err(corrupt("format_version is not a version number".into())),
            None => return Err(corrupt("format_version is missing".into())),
        };
        if version > FORMAT_VERSION {
            return Err(StateError::TooNew {
                path: path.into(),
                found: version,
            });
        }
        let lock: Lockfile = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        lock.check().map_err(corrupt)?;
        if lock.migration != migration {
            return Err(StateError::Foreign {
                path: path.into(),
                found: lock.migration,
                expected: migration.into(),
            });
        }
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_prior_survives_a_round_trip() {
        let mut doc = Lockfile::new("m", "l");
        let mut s = NodeState::new(NodeStatus::Done, "d");
        s.prior = Some(serde_json::Value::Null.into());
        doc.nodes.insert("local_file.x".into(), s);
        let back = Lockfile::parse(&doc.to_json(), Path::new("x"), "m").unwrap();
        assert_eq!(
            back.nodes["local_file.x"].prior,
            Some(serde_json::Value::Null.into()),
            "the object did not exist"
        );
        assert_eq!(back.nodes["local_file.x"].applied, None, "nothing recorded");
    }

    #[test]
    fn nodes_read_in_any_order_come_back_sorted_and_complete() {
        let mut doc = Lockfile::new("m", "l");
        for i in [3, 1, 2, 10, 0] {
            let s = NodeState::new(NodeStatus::Done, &format!("d{i}"));
            doc.nodes.insert(format!("step.n{i}"), s);
        }
        let text = doc.to_json();
        // The first entry renamed to sort last: the file is no longer in order.
        let reversed = text.replacen("\"step.n0\"", "\"step.zz\"", 1);
        let back = Lockfile::parse(&text, Path::new("x"), "m").unwrap();
        assert_eq!(back, doc);
        let moved = Lockfile::parse(&reversed, Path::new("x"), "m").unwrap();
        let keys: Vec<&str> = moved.nodes.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["step.n1", "step.n10", "step.n2", "step.n3", "step.zz"]
        );
        assert_eq!(moved.nodes["step.zz"].digest, "d0");
    }
}
