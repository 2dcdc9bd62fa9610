//! `aws_ecs_service` (desired count and task definition, optionally waiting
//! for a steady state), `data "aws_ecs_service"` and the `aws_ecs_steady` gate.

use super::config::aws_error;
use crate::providers::{Attrs, CheckOutcome, ProviderError};
use aws_sdk_ecs as ecs;
use serde_json::{json, Value};
use std::time::Duration;

fn ids(attrs: &Attrs) -> Result<(&str, &str), ProviderError> {
    let g = |k: &str| {
        attrs
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::failed(format!("`{k}` must be a string")))
    };
    Ok((g("cluster")?, g("service")?))
}

async fn describe(
    client: &ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Option<ecs::types::Service>, ProviderError> {
    let out = client
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| aws_error(&format!("describing service {service} in {cluster}"), e))?;
    Ok(out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .cloned())
}

pub async fn read(client: &ecs::Client, attrs: &Attrs) -> Result<Option<Attrs>, ProviderError> {
    let (cluster, service) = ids(attrs)?;
    let Some(s) = describe(client, cluster, service).await? else {
        return Ok(None);
    };
    let mut out = Attrs::new();
    out.insert("cluster".into(), json!(cluster));
    out.insert("service".into(), json!(service));
    out.insert("desired_count".into(), json!(s.desired_count()));
    out.insert("running_count".into(), json!(s.running_count()));
    out.insert("task_definition".into(), json!(s.task_definition()));
    Ok(Some(out))
}

pub async fn apply(client: &ecs::Client, desired: &Attrs) -> Result<Option<Attrs>, ProviderError> {
    let (cluster, service) = ids(desired)?;
    let mut req = client.update_service().cluster(cluster).service(service);
    if let Some(n) = desired.get("desired_count").and_then(Value::as_i64) {
        req = req.desired_count(n as i32);
    }
    if let Some(td) = desired.get("task_definition").and_then(Value::as_str) {
        req = req.task_definition(td);
    }
    req.send()
        .await
        .map_err(|e| aws_error(&format!("updating service {service} in {cluster}"), e))?;
    if desired
        .get("wait_for_steady_state")
        .and_then(Value::as_bool)
        == Some(true)
    {
        loop {
            if steady(client, desired).await?.holds {
                break;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
    read(client, desired).await
}

/// The service runs as many tasks as it wants, on one deployment.
pub async fn steady(client: &ecs::Client, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
    let (cluster, service) = ids(attrs)?;
    let Some(s) = describe(client, cluster, service).await? else {
        return Ok(CheckOutcome {
            value: None,
            limits: Vec::new(),
            holds: false,
            measured: format!("service {service} not found in {cluster}"),
        });
    };
    let deployments = s.deployments().len();
    let holds = s.running_count() == s.desired_count() && deployments <= 1;
    Ok(CheckOutcome {
        value: None,
        limits: Vec::new(),
        holds,
        measured: format!(
            "running {} of {} desired, {deployments} deployment(s)",
            s.running_count(),
            s.desired_count()
        ),
    })
}
