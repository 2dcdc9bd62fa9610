//! The `cloudwatch` gate (a metric's latest value against a threshold, with an
//! explicit rule for missing data) and `aws_cloudwatch_metric_alarm`.

use super::config::aws_error;
use crate::eval::duration;
use crate::providers::{Attrs, CheckOutcome, ProviderError};
use aws_sdk_cloudwatch as cw;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

fn s<'a>(attrs: &'a Attrs, k: &str) -> Option<&'a str> {
    attrs.get(k).and_then(Value::as_str)
}

fn dimensions(attrs: &Attrs) -> Vec<cw::types::Dimension> {
    match attrs.get("dimensions") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                cw::types::Dimension::builder()
                    .name(k)
                    .value(
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                    .build()
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Polls the gate once: the most recent datapoint within the look-back window.
pub async fn check(client: &cw::Client, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
    let namespace = s(attrs, "namespace")
        .ok_or_else(|| ProviderError::failed("`namespace` must be a string"))?;
    let metric =
        s(attrs, "metric").ok_or_else(|| ProviderError::failed("`metric` must be a string"))?;
    let period = s(attrs, "period")
        .map(duration::parse)
        .transpose()
        .map_err(ProviderError::Failed)?
        .unwrap_or(Duration::from_secs(60));
    let lookback = s(attrs, "lookback")
        .map(duration::parse)
        .transpose()
        .map_err(ProviderError::Failed)?
        .unwrap_or(period * 5);
    let stat = s(attrs, "statistic").unwrap_or("Average");
    let now = SystemTime::now();
    let mut req = client
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .set_dimensions(Some(dimensions(attrs)))
        .start_time(aws_smithy_types_time(now - lookback))
        .end_time(aws_smithy_types_time(now + Duration::from_secs(60)))
        .period(period.as_secs().max(1) as i32);
    let percentile = stat.starts_with('p') && stat[1..].parse::<f64>().is_ok();
    req = if percentile {
        req.extended_statistics(stat)
    } else {
        req.statistics(cw::types::Statistic::from(stat))
    };
    let out = req
        .send()
        .await
        .map_err(|e| aws_error(&format!("reading {namespace}/{metric}"), e))?;
    let mut points: Vec<_> = out.datapoints().to_vec();
    points.sort_by_key(|d| d.timestamp().map(|t| t.secs()));
    let value = points.last().and_then(|d| {
        if percentile {
            d.extended_statistics().and_then(|m| m.get(stat)).copied()
        } else {
            match stat {
                "Sum" => d.sum(),
                "Maximum" => d.maximum(),
                "Minimum" => d.minimum(),
                "SampleCount" => d.sample_count(),
                _ => d.average(),
            }
        }
    });
    let Some(value) = value else {
        return match s(attrs, "no_data").unwrap_or("wait") {
            "pass" => Ok(CheckOutcome {
                value: None,
                limits: Vec::new(),
                holds: true,
                measured: format!("{metric} {stat}: no data (no_data = \"pass\")"),
            }),
            "fail" => Err(ProviderError::failed(format!(
                "{metric} {stat}: no data in the last {} (no_data = \"fail\")",
                duration::format(lookback)
            ))),
            _ => Ok(CheckOutcome {
                value: None,
                limits: Vec::new(),
                holds: false,
                measured: format!("{metric} {stat}: no data yet"),
            }),
        };
    };
    let mut holds = true;
    let mut want = Vec::new();
    let mut limits = Vec::new();
    if let Some(b) = attrs.get("below").and_then(Value::as_f64) {
        holds &= value < b;
        want.push(format!("below {b}"));
        limits.push(crate::providers::Limit {
            op: "below".into(),
            value: b,
        });
    }
    if let Some(a) = attrs.get("above").and_then(Value::as_f64) {
        holds &= value > a;
        want.push(format!("above {a}"));
        limits.push(crate::providers::Limit {
            op: "above".into(),
            value: a,
        });
    }
    Ok(CheckOutcome {
        value: Some(value).filter(|v| v.is_finite()),
        limits,
        holds,
        measured: format!(
            "{metric} {stat} = {} (want {})",
            crate::text::significant(value, crate::text::MEASURED_DIGITS),
            if want.is_empty() {
                "any".into()
            } else {
                want.join(" and ")
            }
        ),
    })
}

fn aws_smithy_types_time(t: SystemTime) -> cw::primitives::DateTime {
    cw::primitives::DateTime::from(t)
}

fn alarm_name(attrs: &Attrs) -> Result<&str, ProviderError> {
    s(attrs, "alarm_name").ok_or_else(|| ProviderError::failed("`alarm_name` must be a string"))
}

pub async fn read_alarm(
    client: &cw::Client,
    attrs: &Attrs,
) -> Result<Option<Attrs>, ProviderError> {
    let name = alarm_name(attrs)?;
    let out = client
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| aws_error(&format!("describing alarm {name}"), e))?;
    let Some(a) = out.metric_alarms().first() else {
        return Ok(None);
    };
    let mut m = Attrs::new();
    m.insert("alarm_name".into(), json!(name));
    m.insert("namespace".into(), json!(a.namespace()));
    m.insert("metric_name".into(), json!(a.metric_name()));
    m.insert(
        "statistic".into(),
        json!(a.statistic().map(|s| s.as_str().to_string())),
    );
    m.insert("period".into(), json!(a.period()));
    m.insert("evaluation_periods".into(), json!(a.evaluation_periods()));
    m.insert("threshold".into(), json!(a.threshold()));
    m.insert(
        "comparison_operator".into(),
        json!(a.comparison_operator().map(|c| c.as_str().to_string())),
    );
    let dims: serde_json::Map<String, Value> = a
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap_or_default().to_string(), json!(d.value())))
        .collect();
    m.insert("dimensions".into(), Value::Object(dims));
    m.insert("alarm_actions".into(), json!(a.alarm_actions()));
    Ok(Some(m))
}

pub async fn apply_alarm(
    client: &cw::Client,
    desired: Option<&Attrs>,
    identity: &Attrs,
) -> Result<Option<Attrs>, ProviderError> {
    let name = alarm_name(identity)?;
    let Some(d) = desired else {
        client
            .delete_alarms()
            .alarm_names(name)
            .send()
            .await
            .map_err(|e| aws_error(&format!("deleting alarm {name}"), e))?;
        return Ok(None);
    };
    let mut req = client
        .put_metric_alarm()
        .alarm_name(name)
        .set_namespace(s(d, "namespace").map(str::to_string))
        .set_metric_name(s(d, "metric_name").map(str::to_string))
        .set_statistic(s(d, "statistic").map(cw::types::Statistic::from))
        .set_period(d.get("period").and_then(Value::as_i64).map(|p| p as i32))
        .evaluation_periods(
            d.get("evaluation_periods")
                .and_then(Value::as_i64)
                .unwrap_or(1) as i32,
        )
        .set_threshold(d.get("threshold").and_then(Value::as_f64))
        .comparison_operator(cw::types::ComparisonOperator::from(
            s(d, "comparison_operator").unwrap_or("GreaterThanThreshold"),
        ))
        .set_dimensions(Some(dimensions(d)));
    for a in d
        .get("alarm_actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        req = req.alarm_actions(a);
    }
    if let Some(t) = s(d, "treat_missing_data") {
        req = req.treat_missing_data(t);
    }
    req.send()
        .await
        .map_err(|e| aws_error(&format!("writing alarm {name}"), e))?;
    read_alarm(client, identity).await
}
