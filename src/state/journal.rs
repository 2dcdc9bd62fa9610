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
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{}\t{json}\n", checksum(&json))
    }

    /// Parses one line; `None` when it is torn or corrupt.
    pub fn decode(line: &str) -> Option<Record> {
        let (sum, json) = line.split_once('\t')?;
        if checksum(json) != sum {
            return None;
        }
        serde_json::from_str(json).ok()
    }
}

fn checksum(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// Decodes a journal's text: every intact record up to the first damaged one.
pub fn decode_all(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            break; // torn: the crash happened while this line was written
        }
        match Record::decode(line.trim_end_matches('\n')) {
            Some(r) => out.push(r),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NodeStatus;

    fn rec(a: &str) -> Record {
        Record::node("L", a, NodeState::new(NodeStatus::Done, "d"))
    }

    #[test]
    fn torn_and_corrupt_tails_are_ignored() {
        let mut text = rec("a").encode() + &rec("b").encode();
        assert_eq!(decode_all(&text).len(), 2);
        let torn = rec("c").encode();
        text.push_str(&torn[..torn.len() / 2]);
        assert_eq!(decode_all(&text).len(), 2);
        let flipped = text.replacen("\"b\"", "\"x\"", 1);
        assert_eq!(decode_all(&flipped).len(), 1);
    }
}
