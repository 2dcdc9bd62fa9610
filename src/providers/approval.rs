//! The `approval` gate's type: it holds once a person runs
//! `cutover approve ADDR` while apply waits at it. Apply answers it from the
//! state backend's journal (see `apply::approval`); this provider only gives
//! the type its schema.

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{Attrs, CheckOutcome, Provider, ProviderError};
use crate::spec::ast::NodeKind;
use async_trait::async_trait;

/// The gate type, which apply answers itself.
pub const TYPE: &str = "approval";

pub struct ApprovalProvider;

#[async_trait]
impl Provider for ApprovalProvider {
    fn name(&self) -> &'static str {
        "approval"
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        vec![TypeSchema::new(
            NodeKind::Gate,
            TYPE,
            vec![AttrSchema::new("message", AttrType::String)],
            vec![],
        )]
    }

    async fn check(&self, _: &str, _: &Attrs) -> Result<CheckOutcome, ProviderError> {
        Err(ProviderError::failed(
            "an approval gate is answered by `cutover approve` while apply waits at it",
        ))
    }
}
