//! Journal records: one line each, `CHECKSUM<TAB>JSON`, so that a record torn
//! by a crash is detected and ignored.

use super::lockfile::NodeState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What one record changes in the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Change {
    /// The node's whole state after a transition.
    Node {
        address: String,
        state: Box<NodeState>,
    },
    /// The migration's outputs after an apply.
    Outputs {
        outputs: BTreeMap<String, serde_json::Value>,
    },
    /// The spec the document now reflects.
    SpecDigest { digest: String },
    /// A person approved an `approval` gate (`cutover approve`), from any
    /// terminal while apply waits at it; appended without the lock.
    Approval {
        address: String,
        by: String,
        at: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// An apply or rollback began: a new run in the history.
    RunStarted { run: Box<super::history::Run> },
    /// What a run did since its last record (gate measurements bounded).
    RunEvents {
        run: String,
        events: Vec<super::history::Stamped>,
    },
    /// A run ended.
    RunFinished {
        run: String,
        end: super::history::RunEnd,
    },
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub lineage: String,
    pub change: Change,
}

impl Record {
    pub fn node(lineage: &str, address: &str, state: NodeState) -> Record {
        Record {
            lineage: lineage.to_string(),
            change: Change::Node {
                address: address.to_string(),
                state: Box::new(state),
            },
        }
    }

    /// The record as one journal line, newline included.
    pub fn encode(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        // Free text (errors, a command's stdout) may quote a secret: masked on the way out.
        crate::eval::redact::mask_json(&mut value);
        line(&serde_json::to_string(&value).unwrap_or_default())
    }

    /// Parses one line (without its newline), or says what is wrong with it.
    pub fn decode(line: &str) -> Result<Record, String> {
        let Some((sum, json)) = line.split_once('\t') else {
            return Err("not a journal record (no checksum)".into());
        };
        if checksum(json) != sum {
            return Err("its checksum does not match its content".into());
        }
        let r: Record =
            serde_json::from_str(json).map_err(|e| format!("not a journal record ({e})"))?;
        // What folds into the lockfile is held to what the lockfile is.
        if r.lineage.is_empty() {
            return Err("not a journal record (its lineage is empty)".into());
        }
        if let Change::Node { address, state } = &r.change {
            state
                .check()
                .map_err(|e| format!("not a journal record ({address}: {e})"))?;
        }
        Ok(r)
    }
}

/// A record's JSON as its journal line: its checksum, a tab, the JSON, a newline.
pub fn line(json: &str) -> String {
    format!("{}\t{json}\n", checksum(json))
}

fn checksum(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// A damaged record before the end of the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    /// One-based line of the damaged record.
    pub line: usize,
    pub reason: String,
}

/// Every line of a journal: its record, or what is wrong with it. A last
/// line that is damaged is marked torn: the crash happened while it was written.
pub fn salvage(text: &str) -> Vec<(usize, Result<Record, String>)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let n = lines.len();
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let r = Record::decode(line.trim_end_matches('\n'));
            let torn = i + 1 == n && r.is_err();
            (i + 1, if torn { Err(TORN.to_string()) } else { r })
        })
        .collect()
}

/// What [`salvage`] says of a damaged last line.
pub const TORN: &str = "torn: the last record was being written when the process died";

/// Decodes a journal's text: every record, a torn last one ignored. Any
/// other damage is an error naming its line: nothing may be silently lost.
pub fn decode_all(text: &str) -> Result<Vec<Record>, Damage> {
    let mut out = Vec::new();
    for (line, r) in salvage(text) {
        match r {
            Ok(r) => out.push(r),
            Err(reason) if reason == TORN => {}
            Err(reason) => return Err(Damage { line, reason }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NodeStatus;

    fn rec(a: &str) -> Record {
        Record::node("L", a, NodeState::new(NodeStatus::Done, "d"))
    }

    #[test]
    fn only_a_torn_last_record_is_ignored() {
        let mut text = rec("a").encode() + &rec("b").encode();
        assert_eq!(decode_all(&text).unwrap().len(), 2);
        let torn = rec("c").encode();
        text.push_str(&torn[..torn.len() / 2]);
        assert_eq!(decode_all(&text).unwrap().len(), 2);
        let garbage_last = rec("a").encode() + "garbage\n";
        assert_eq!(decode_all(&garbage_last).unwrap().len(), 1);
        let flipped = (rec("a").encode() + &rec("b").encode()).replacen("\"a\"", "\"x\"", 1);
        assert_eq!(
            decode_all(&flipped),
            Err(Damage {
                line: 1,
                reason: "its checksum does not match its content".into()
            })
        );
        let garbage_first = "garbage\n".to_string() + &rec("a").encode();
        assert_eq!(decode_all(&garbage_first).unwrap_err().line, 1);
    }

    /// Found by fuzzing: a record the lockfile would refuse folded into a
    /// document that could then not be read back. It is damage, with its line.
    #[test]
    fn a_record_the_lockfile_would_refuse_is_damage() {
        let mut s = NodeState::new(NodeStatus::Done, "d");
        s.started_at = Some("4052-12-83T13:21:06.391Z".into());
        let bad_time = Record::node("L", "step.b", s).encode();
        let text = rec("a").encode() + &bad_time + &rec("c").encode();
        let damage = decode_all(&text).unwrap_err();
        assert_eq!(damage.line, 2);
        assert!(damage.reason.starts_with("not a journal record (step.b: started_at \"4052-12-83T13:21:06.391Z\" is not an RFC 3339 timestamp"), "{}", damage.reason);
        let no_lineage = Record::node("", "step.b", NodeState::new(NodeStatus::Done, "d"));
        let text = no_lineage.encode() + &rec("c").encode();
        assert_eq!(
            decode_all(&text),
            Err(Damage {
                line: 1,
                reason: "not a journal record (its lineage is empty)".into()
            })
        );
    }
}
