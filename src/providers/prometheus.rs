//! The `prometheus` provider: `gate "prometheus"`, an instant PromQL query
//! compared with thresholds — directly, or as a ratio to a baseline query
//! (the canary's error rate against the stable version's).
//!
//! The server is the gate's `url`, else the provider block's. Every series
//! the query returns must satisfy the thresholds; a baseline query must return
//! one value (aggregate it with `sum`, `max`, …). A query the server rejects
//! fails the gate at once; an unreachable server is a gate that does not hold
//! yet.

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{Attrs, CheckOutcome, Provider, ProviderError};
use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

pub struct PrometheusProvider {
    settings: Attrs,
    client: reqwest::Client,
}

impl PrometheusProvider {
    pub fn new(settings: Attrs) -> PrometheusProvider {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        PrometheusProvider { settings, client }
    }

    fn attr<'a>(&'a self, attrs: &'a Attrs, k: &str) -> Option<&'a Value> {
        attrs.get(k).or_else(|| self.settings.get(k))
    }

    /// Runs one instant query; the samples it returned, labelled.
    async fn query(&self, attrs: &Attrs, query: &str) -> Result<Vec<Sample>, QueryError> {
        let base = self
            .attr(attrs, "url")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                QueryError::Rejected(
                    "no Prometheus server: set `url` on the gate or in provider \"prometheus\""
                        .into(),
                )
            })?;
        let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
        let full = reqwest::Url::parse_with_params(&url, &[("query", query)])
            .map_err(|e| QueryError::Rejected(format!("\"{base}\" is not a URL: {e}")))?;
        let mut req = self.client.get(full);
        if let Some(Value::Object(h)) = self.attr(attrs, "headers") {
            for (k, v) in h {
                req = req.header(
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                );
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| QueryError::Unreachable(format!("{url}: {}", super::error_chain(&e))))?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| {
            QueryError::Unreachable(format!(
                "{url}: HTTP {status}, not a Prometheus answer: {e}"
            ))
        })?;
        if body["status"] != "success" {
            return Err(QueryError::Rejected(format!(
                "Prometheus rejected `{query}`: {} ({})",
                body["error"].as_str().unwrap_or("no message"),
                body["errorType"].as_str().unwrap_or("HTTP error")
            )));
        }
        parse_result(&body["data"]).map_err(|e| QueryError::Rejected(format!("`{query}`: {e}")))
    }
}

enum QueryError {
    /// The server could not be reached or did not answer as Prometheus does.
    Unreachable(String),
    /// The server answered with an error (a malformed query), or the answer is unusable.
    Rejected(String),
}

/// One series' value at the query's instant.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    labels: String,
    value: f64,
}

fn number(v: &Value) -> Option<f64> {
    // [timestamp, "value"]; values are strings, including "NaN" and "+Inf".
    v.get(1)?.as_str()?.parse().ok()
}

/// The samples of a `data` object of /api/v1/query.
fn parse_result(data: &Value) -> Result<Vec<Sample>, String> {
    match data["resultType"].as_str() {
        Some("scalar") => Ok(vec![Sample {
            labels: String::new(),
            value: number(&data["result"]).ok_or("a scalar without a value")?,
        }]),
        Some("vector") => data["result"]
            .as_array()
            .ok_or("a vector without results")?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .filter(|m| !m.is_empty())
                    .map(|m| {
                        let inner: Vec<String> =
                            m.iter().map(|(k, v)| format!("{k}={}", v)).collect();
                        format!("{{{}}}", inner.join(", "))
                    })
                    .unwrap_or_default();
                Ok(Sample {
                    labels,
                    value: number(&s["value"]).ok_or("a sample without a value")?,
                })
            })
            .collect(),
        Some(other) => Err(format!(
            "returned a {other}; a gate needs an instant vector or a scalar"
        )),
        None => Err("the answer has no resultType".into()),
    }
}

/// The thresholds of a gate, checked against one value.
fn thresholds(attrs: &Attrs) -> Vec<(&'static str, f64)> {
    super::COMPARISONS
        .into_iter()
        .filter_map(|k| attrs.get(k).and_then(Value::as_f64).map(|v| (k, v)))
        .collect()
}

fn chart_limits(limits: &[(&'static str, f64)]) -> Vec<super::Limit> {
    limits
        .iter()
        .map(|(op, v)| super::Limit {
            op: op.to_string(),
            value: *v,
        })
        .collect()
}

fn satisfies(value: f64, limits: &[(&'static str, f64)]) -> bool {
    limits
        .iter()
        .all(|(op, l)| super::compare(op, value, *l).unwrap_or(false))
}

fn show(v: f64) -> String {
    crate::text::significant(v, crate::text::MEASURED_DIGITS)
}

#[async_trait]
impl Provider for PrometheusProvider {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn config_schema(&self) -> Vec<AttrSchema> {
        vec![
            AttrSchema::new("url", AttrType::String),
            AttrSchema::new("headers", AttrType::StringMap).sensitive(),
        ]
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        use AttrType::*;
        vec![TypeSchema::new(
            NodeKind::Gate,
            "prometheus",
            vec![
                AttrSchema::new("url", String),
                AttrSchema::new("headers", StringMap).sensitive(),
                AttrSchema::new("query", String).required(),
                AttrSchema::new("baseline_query", String),
                AttrSchema::new("below", Number),
                AttrSchema::new("above", Number),
                AttrSchema::new("at_most", Number),
                AttrSchema::new("at_least", Number),
                AttrSchema::new("no_data", String),
            ],
            vec![],
        )]
    }

    async fn check(&self, type_name: &str, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        if type_name != "prometheus" {
            return Err(ProviderError::unsupported("prometheus", "gate", type_name));
        }
        let query = attrs
            .get("query")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::failed("`query` must be a string"))?;
        let not_yet = |measured: String| {
            Ok(CheckOutcome {
                value: None,
                limits: Vec::new(),
                holds: false,
                measured,
            })
        };
        let samples = match self.query(attrs, query).await {
            Ok(s) => s,
            Err(QueryError::Unreachable(e)) => return not_yet(e),
            Err(QueryError::Rejected(e)) => return Err(ProviderError::failed(e)),
        };
        let limits = thresholds(attrs);
        let want = if limits.is_empty() {
            "any".to_string()
        } else {
            limits
                .iter()
                .map(|(op, l)| format!("{} {}", op.replace('_', " "), show(*l)))
                .collect::<Vec<_>>()
                .join(" and ")
        };
        if samples.is_empty() {
            return match attrs
                .get("no_data")
                .and_then(Value::as_str)
                .unwrap_or("wait")
            {
                "pass" => Ok(CheckOutcome {
                    value: None,
                    limits: Vec::new(),
                    holds: true,
                    measured: "no data (no_data = \"pass\")".into(),
                }),
                "fail" => Err(ProviderError::failed(format!(
                    "`{query}` returned no data (no_data = \"fail\")"
                ))),
                _ => not_yet("no data yet".into()),
            };
        }
        if let Some(bq) = attrs.get("baseline_query").and_then(Value::as_str) {
            let base = match self.query(attrs, bq).await {
                Ok(b) => b,
                Err(QueryError::Unreachable(e)) => return not_yet(e),
                Err(QueryError::Rejected(e)) => return Err(ProviderError::failed(e)),
            };
            let (value, base) = match (samples.as_slice(), base.as_slice()) {
                ([v], [b]) => (v.value, b.value),
                (_, []) => return not_yet("the baseline query returned no data yet".into()),
                (v, b) => {
                    return Err(ProviderError::failed(format!(
                        "a ratio needs one value on each side; the query returned {} series and the baseline query {} (aggregate them, e.g. with sum())",
                        v.len(),
                        b.len()
                    )))
                }
            };
            let ratio = if base != 0.0 {
                value / base
            } else if value == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            return Ok(CheckOutcome::new(
                satisfies(ratio, &limits),
                format!(
                    "{} ÷ baseline {} = {}× (want {want})",
                    show(value),
                    show(base),
                    show(ratio)
                ),
            )
            .with_value(ratio, chart_limits(&limits)));
        }
        let holds = samples.iter().all(|s| satisfies(s.value, &limits));
        let mut shown: Vec<String> = samples
            .iter()
            .take(5)
            .map(|s| {
                if s.labels.is_empty() {
                    show(s.value)
                } else {
                    format!("{} {}", s.labels, show(s.value))
                }
            })
            .collect();
        if samples.len() > 5 {
            shown.push(format!("… {} series in all", samples.len()));
        }
        let outcome = CheckOutcome::new(holds, format!("{} (want {want})", shown.join(", ")));
        Ok(match samples.as_slice() {
            [one] => outcome.with_value(one.value, chart_limits(&limits)),
            _ => outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vectors_and_scalars_become_samples() {
        let v = json!({ "resultType": "vector", "result": [
            { "metric": { "version": "v2" }, "value": [1700000000.0, "0.04"] },
            { "metric": {}, "value": [1700000000.0, "NaN"] }
        ] });
        let s = parse_result(&v).unwrap();
        assert_eq!(
            s[0],
            Sample {
                labels: "{version=\"v2\"}".into(),
                value: 0.04
            }
        );
        assert!(s[1].value.is_nan() && !satisfies(s[1].value, &[("below", 1.0)]));
        let s = parse_result(&json!({ "resultType": "scalar", "result": [1.0, "+Inf"] })).unwrap();
        assert_eq!(s[0].value, f64::INFINITY);
        assert!(
            parse_result(&json!({ "resultType": "matrix", "result": [] }))
                .unwrap_err()
                .contains("instant vector or a scalar")
        );
    }
}
