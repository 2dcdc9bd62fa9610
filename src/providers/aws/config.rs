//! AWS configuration: the standard chain (environment, shared config and
//! credentials files, profiles, SSO, IMDS) plus the `provider "aws"` block's
//! `region`, `profile`, `endpoint` and `assume_role { role_arn, session_name,
//! external_id }`. Throttling and 5xx are retried by the SDK (standard mode).

use crate::providers::{Attrs, ProviderError};
use aws_config::{BehaviorVersion, SdkConfig};
use serde_json::Value;

pub async fn load(settings: &Attrs) -> Result<SdkConfig, ProviderError> {
    let s = |k: &str| {
        settings
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
    if let Some(r) = s("region") {
        loader = loader.region(aws_config::Region::new(r));
    }
    if let Some(p) = s("profile") {
        loader = loader.profile_name(p);
    }
    if let Some(e) = s("endpoint") {
        loader = loader.endpoint_url(e);
    }
    let base = loader.load().await;
    let Some(Value::Object(role)) = settings.get("assume_role") else {
        return Ok(base);
    };
    let arn = role
        .get("role_arn")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed("assume_role needs role_arn"))?;
    let mut b = aws_config::sts::AssumeRoleProvider::builder(arn).session_name(
        role.get("session_name")
            .and_then(Value::as_str)
            .unwrap_or("cutover"),
    );
    if let Some(x) = role.get("external_id").and_then(Value::as_str) {
        b = b.external_id(x);
    }
    let creds = b.configure(&base).build().await;
    Ok(base
        .into_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .build())
}

/// An AWS error as the operator needs it: the service's code and message, and the request id.
pub fn aws_error<E, R>(what: &str, e: aws_sdk_ecs::error::SdkError<E, R>) -> ProviderError
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::SdkError;
    let text = match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown");
            let msg = err.message().unwrap_or("no message");
            let id = err
                .meta()
                .extra("aws_request_id")
                .or_else(|| err.meta().extra("request_id"));
            match id {
                Some(id) => format!("{code}: {msg} (request id {id})"),
                None => format!("{code}: {msg}"),
            }
        }
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    };
    ProviderError::failed(format!("{what}: {text}"))
}
