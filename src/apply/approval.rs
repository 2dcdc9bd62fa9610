//! Waiting for a person: the `approval` gate during apply.
//!
//! `cutover approve ADDR` appends an approval record to the state backend's
//! journal, from any terminal and without the lock. Each poll of the gate
//! asks the coordinator, which reads the journal and answers with the
//! approval given for this gate since this apply started, if any — an
//! approval from an earlier run never carries over.

use super::execute::Msg;
use crate::providers::{Attrs, CheckOutcome, Provider, ProviderError};
use crate::spec::NodeId;
use crate::state::{Change, Record};
use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

/// Who approved, when, and what they said.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub by: String,
    pub at: String,
    pub comment: Option<String>,
}

/// The latest approval of `address` in `records` of `lineage` given at or
/// after `since` (RFC 3339).
pub fn find(
    records: &[Record],
    lineage: &str,
    address: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Option<Approval> {
    records
        .iter()
        .filter(|r| r.lineage == lineage)
        .filter_map(|r| match &r.change {
            Change::Approval {
                address: a,
                by,
                at,
                comment,
            } if a == address => {
                let when = chrono::DateTime::parse_from_rfc3339(at).ok()?;
                (when >= since).then(|| Approval {
                    by: by.clone(),
                    at: at.clone(),
                    comment: comment.clone(),
                })
            }
            _ => None,
        })
        .next_back()
}

/// The provider an approval gate's poll runs on during apply.
pub struct Approver {
    pub id: NodeId,
    pub address: String,
    pub tx: mpsc::UnboundedSender<Msg>,
}

#[async_trait]
impl Provider for Approver {
    fn name(&self) -> &'static str {
        "approval"
    }

    fn schemas(&self) -> Vec<crate::providers::schema::TypeSchema> {
        Vec::new()
    }

    async fn check(&self, _: &str, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Approval { id: self.id, reply })
            .map_err(|_| ProviderError::failed("apply is stopping"))?;
        let found = answer
            .await
            .map_err(|_| ProviderError::failed("apply is stopping"))?
            .map_err(ProviderError::failed)?;
        Ok(match found {
            Some(a) => CheckOutcome {
                value: None,
                limits: Vec::new(),
                holds: true,
                measured: format!(
                    "approved by {} at {}{}",
                    a.by,
                    a.at,
                    a.comment.map(|c| format!(": {c}")).unwrap_or_default()
                ),
            },
            None => CheckOutcome {
                value: None,
                limits: Vec::new(),
                holds: false,
                measured: format!(
                    "waiting for approval{}: run `cutover approve {}`",
                    attrs
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default(),
                    crate::addr::shell(&self.address)
                ),
            },
        })
    }
}
