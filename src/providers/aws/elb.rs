//! `aws_lb_listener_weights`: the weighted forward action of an ALB listener
//! (target group ARN → weight, optional stickiness), and `data "aws_lb_listener"`.

use super::config::aws_error;
use crate::providers::{Attrs, ProviderError};
use aws_sdk_elasticloadbalancingv2 as elb;
use serde_json::{json, Value};

fn listener_arn(attrs: &Attrs) -> Result<&str, ProviderError> {
    attrs
        .get("listener_arn")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed("`listener_arn` must be a string"))
}

/// The listener's forward weights and stickiness; `None` when the listener does not exist.
pub async fn read(client: &elb::Client, attrs: &Attrs) -> Result<Option<Attrs>, ProviderError> {
    let arn = listener_arn(attrs)?;
    let out = match client.describe_listeners().listener_arns(arn).send().await {
        Ok(o) => o,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_listener_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws_error(&format!("describing listener {arn}"), e)),
    };
    let Some(listener) = out.listeners().first() else {
        return Ok(None);
    };
    let mut weights = serde_json::Map::new();
    let mut stickiness = 0i64;
    for action in listener.default_actions() {
        if let Some(fc) = action.forward_config() {
            for tg in fc.target_groups() {
                if let Some(a) = tg.target_group_arn() {
                    weights.insert(a.to_string(), json!(tg.weight().unwrap_or(1)));
                }
            }
            if let Some(st) = fc
                .target_group_stickiness_config()
                .filter(|s| s.enabled() == Some(true))
            {
                stickiness = st.duration_seconds().unwrap_or(0) as i64;
            }
        } else if let Some(a) = action.target_group_arn() {
            weights.insert(a.to_string(), json!(1));
        }
    }
    let mut out = Attrs::new();
    out.insert("listener_arn".into(), json!(arn));
    out.insert("weights".into(), Value::Object(weights));
    out.insert("stickiness".into(), json!(stickiness));
    out.insert("port".into(), json!(listener.port()));
    out.insert(
        "protocol".into(),
        json!(listener.protocol().map(|p| p.as_str().to_string())),
    );
    Ok(Some(out))
}

/// Sets the listener's default action to a weighted forward.
pub async fn apply(client: &elb::Client, desired: &Attrs) -> Result<Option<Attrs>, ProviderError> {
    let arn = listener_arn(desired)?;
    let Some(Value::Object(weights)) = desired.get("weights") else {
        return Err(ProviderError::failed(
            "`weights` must be a map of target group ARN → weight",
        ));
    };
    let mut fc = elb::types::ForwardActionConfig::builder();
    for (tg, w) in weights {
        let w = w
            .as_i64()
            .or_else(|| w.as_f64().map(|f| f as i64))
            .ok_or_else(|| ProviderError::failed(format!("the weight of {tg} is not a number")))?;
        if !(0..=999).contains(&w) {
            return Err(ProviderError::failed(format!(
                "the weight of {tg} is {w}; ALB weights are 0 to 999"
            )));
        }
        fc = fc.target_groups(
            elb::types::TargetGroupTuple::builder()
                .target_group_arn(tg)
                .weight(w as i32)
                .build(),
        );
    }
    let stick = desired
        .get("stickiness")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    fc = fc.target_group_stickiness_config(
        elb::types::TargetGroupStickinessConfig::builder()
            .enabled(stick > 0)
            .set_duration_seconds((stick > 0).then_some(stick as i32))
            .build(),
    );
    let action = elb::types::Action::builder()
        .r#type(elb::types::ActionTypeEnum::Forward)
        .forward_config(fc.build())
        .build();
    client
        .modify_listener()
        .listener_arn(arn)
        .default_actions(action)
        .send()
        .await
        .map_err(|e| aws_error(&format!("modifying listener {arn}"), e))?;
    read(client, desired).await
}
