//! `aws_appautoscaling_policy`: a scalable target (min/max capacity) and its
//! target-tracking policy (the seed runbook's CPU policy).

use super::config::aws_error;
use crate::providers::{Attrs, ProviderError};
use aws_sdk_applicationautoscaling as aas;
use serde_json::{json, Value};

struct Id<'a> {
    name: &'a str,
    resource: &'a str,
    namespace: aas::types::ServiceNamespace,
    dimension: aas::types::ScalableDimension,
}

fn id(attrs: &Attrs) -> Result<Id<'_>, ProviderError> {
    let s = |k: &str| attrs.get(k).and_then(Value::as_str);
    Ok(Id {
        name: s("policy_name")
            .ok_or_else(|| ProviderError::failed("`policy_name` must be a string"))?,
        resource: s("resource_id")
            .ok_or_else(|| ProviderError::failed("`resource_id` must be a string"))?,
        namespace: aas::types::ServiceNamespace::from(s("service_namespace").unwrap_or("ecs")),
        dimension: aas::types::ScalableDimension::from(
            s("scalable_dimension").unwrap_or("ecs:service:DesiredCount"),
        ),
    })
}

pub async fn read(client: &aas::Client, attrs: &Attrs) -> Result<Option<Attrs>, ProviderError> {
    let i = id(attrs)?;
    let policies = client
        .describe_scaling_policies()
        .service_namespace(i.namespace.clone())
        .resource_id(i.resource)
        .scalable_dimension(i.dimension.clone())
        .policy_names(i.name)
        .send()
        .await
        .map_err(|e| aws_error(&format!("describing scaling policy {}", i.name), e))?;
    let Some(p) = policies.scaling_policies().first() else {
        return Ok(None);
    };
    let targets = client
        .describe_scalable_targets()
        .service_namespace(i.namespace.clone())
        .resource_ids(i.resource)
        .scalable_dimension(i.dimension.clone())
        .send()
        .await
        .map_err(|e| aws_error(&format!("describing scalable target {}", i.resource), e))?;
    let mut a = Attrs::new();
    for k in [
        "policy_name",
        "resource_id",
        "service_namespace",
        "scalable_dimension",
    ] {
        if let Some(v) = attrs.get(k) {
            a.insert(k.into(), v.clone());
        }
    }
    if let Some(t) = targets.scalable_targets().first() {
        a.insert("min_capacity".into(), json!(t.min_capacity()));
        a.insert("max_capacity".into(), json!(t.max_capacity()));
    }
    if let Some(c) = p.target_tracking_scaling_policy_configuration() {
        a.insert("target_value".into(), json!(c.target_value()));
        a.insert("scale_in_cooldown".into(), json!(c.scale_in_cooldown()));
        a.insert("scale_out_cooldown".into(), json!(c.scale_out_cooldown()));
        if let Some(m) = c.predefined_metric_specification() {
            a.insert(
                "predefined_metric".into(),
                json!(m.predefined_metric_type().as_str()),
            );
        }
    }
    Ok(Some(a))
}

pub async fn apply(
    client: &aas::Client,
    desired: Option<&Attrs>,
    identity: &Attrs,
) -> Result<Option<Attrs>, ProviderError> {
    let i = id(identity)?;
    let Some(d) = desired else {
        client
            .delete_scaling_policy()
            .policy_name(i.name)
            .service_namespace(i.namespace.clone())
            .resource_id(i.resource)
            .scalable_dimension(i.dimension.clone())
            .send()
            .await
            .map_err(|e| aws_error(&format!("deleting scaling policy {}", i.name), e))?;
        return Ok(None);
    };
    let n = |k: &str| d.get(k).and_then(Value::as_i64).map(|v| v as i32);
    client
        .register_scalable_target()
        .service_namespace(i.namespace.clone())
        .resource_id(i.resource)
        .scalable_dimension(i.dimension.clone())
        .set_min_capacity(n("min_capacity"))
        .set_max_capacity(n("max_capacity"))
        .send()
        .await
        .map_err(|e| aws_error(&format!("registering scalable target {}", i.resource), e))?;
    let metric = aas::types::PredefinedMetricSpecification::builder()
        .predefined_metric_type(aas::types::MetricType::from(
            d.get("predefined_metric")
                .and_then(Value::as_str)
                .unwrap_or("ECSServiceAverageCPUUtilization"),
        ))
        .build()
        .map_err(|e| ProviderError::failed(e.to_string()))?;
    let config = aas::types::TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(
            d.get("target_value")
                .and_then(Value::as_f64)
                .unwrap_or(70.0),
        )
        .predefined_metric_specification(metric)
        .set_scale_in_cooldown(n("scale_in_cooldown"))
        .set_scale_out_cooldown(n("scale_out_cooldown"))
        .build()
        .map_err(|e| ProviderError::failed(e.to_string()))?;
    client
        .put_scaling_policy()
        .policy_name(i.name)
        .service_namespace(i.namespace.clone())
        .resource_id(i.resource)
        .scalable_dimension(i.dimension.clone())
        .policy_type(aas::types::PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(|e| aws_error(&format!("writing scaling policy {}", i.name), e))?;
    read(client, identity).await
}
