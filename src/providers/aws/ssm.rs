//! `aws_ssm_parameter`: feature flags and configuration in SSM Parameter Store.

use super::config::aws_error;
use crate::providers::{Attrs, ProviderError};
use aws_sdk_ssm as ssm;
use serde_json::{json, Value};

fn name(attrs: &Attrs) -> Result<&str, ProviderError> {
    attrs
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed("`name` must be a string"))
}

pub async fn read(client: &ssm::Client, attrs: &Attrs) -> Result<Option<Attrs>, ProviderError> {
    let n = name(attrs)?;
    let out = match client
        .get_parameter()
        .name(n)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws_error(&format!("reading parameter {n}"), e)),
    };
    let Some(p) = out.parameter() else {
        return Ok(None);
    };
    let mut a = Attrs::new();
    a.insert("name".into(), json!(n));
    a.insert("value".into(), json!(p.value()));
    a.insert(
        "type".into(),
        json!(p
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "String".into())),
    );
    Ok(Some(a))
}

pub async fn apply(
    client: &ssm::Client,
    desired: Option<&Attrs>,
    identity: &Attrs,
) -> Result<Option<Attrs>, ProviderError> {
    let n = name(identity)?;
    let Some(d) = desired else {
        match client.delete_parameter().name(n).send().await {
            Ok(_) => return Ok(None),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(aws_error(&format!("deleting parameter {n}"), e)),
        }
    };
    let value = match d.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return Err(ProviderError::failed("`value` is required")),
    };
    let kind = d.get("type").and_then(Value::as_str).unwrap_or("String");
    client
        .put_parameter()
        .name(n)
        .value(value)
        .r#type(ssm::types::ParameterType::from(kind))
        .overwrite(true)
        .send()
        .await
        .map_err(|e| aws_error(&format!("writing parameter {n}"), e))?;
    read(client, identity).await
}
