//! The `http` provider: health gates and HTTP calls.
//!
//! Types: `gate "http"` (status, body substring, JSON pointer comparisons),
//! `step "http_request"`, `data "http"`. TLS through rustls.

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{error_chain, Attrs, CheckOutcome, Provider, ProviderError};
use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

pub struct HttpProvider {
    client: reqwest::Client,
}

impl HttpProvider {
    pub fn new() -> HttpProvider {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        HttpProvider { client }
    }

    async fn send(&self, attrs: &Attrs) -> Result<Response, ProviderError> {
        let url = attrs
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::failed("`url` must be a string"))?;
        let method = attrs.get("method").and_then(Value::as_str).unwrap_or("GET");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
            .map_err(|_| ProviderError::failed(format!("\"{method}\" is not an HTTP method")))?;
        let mut req = self.client.request(method, url);
        if let Some(Value::Object(h)) = attrs.get("headers") {
            for (k, v) in h {
                req = req.header(
                    k,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                );
            }
        }
        if let Some(body) = attrs.get("body") {
            req = match body {
                Value::String(s) => req.body(s.clone()),
                other => req.json(other),
            };
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError::failed(format!("{url}: {}", error_chain(&e))))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| ProviderError::failed(format!("{url}: reading the body: {e}")))?;
        let json = serde_json::from_str::<Value>(&body).ok();
        Ok(Response { status, body, json })
    }
}

impl Default for HttpProvider {
    fn default() -> Self {
        Self::new()
    }
}

struct Response {
    status: u16,
    body: String,
    json: Option<Value>,
}

impl Response {
    fn into_attrs(self) -> Attrs {
        let mut a = Attrs::new();
        a.insert("status".into(), json!(self.status));
        a.insert("body".into(), json!(self.body));
        a.insert("json".into(), self.json.unwrap_or(Value::Null));
        a
    }
}

fn request_attrs() -> Vec<AttrSchema> {
    use AttrType::*;
    vec![
        AttrSchema::new("url", String).required(),
        AttrSchema::new("method", String),
        AttrSchema::new("headers", StringMap),
        AttrSchema::new("body", Any),
        AttrSchema::new("expect_status", Number),
    ]
}

/// `$.a.b` or `/a/b` → a JSON pointer.
fn pointer(path: &str) -> String {
    match path.strip_prefix("$") {
        Some(rest) => rest.replace('.', "/"),
        None if path.starts_with('/') => path.to_string(),
        None => format!("/{}", path.replace('.', "/")),
    }
}

/// Checks one `json` expectation; returns whether it holds and what was seen.
fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(|g| {
        g.as_f64()
            .or_else(|| g.as_str().and_then(|s| s.parse().ok()))
    })
}

/// Checks one `json` expectation; returns whether it holds and what was seen.
/// With `ratio_to = "/other/pointer"`, the comparisons apply to the value
/// divided by that other value (a canary's error rate against the baseline's).
fn check_json(doc: Option<&Value>, path: &str, want: &Value) -> (bool, String) {
    let got = doc.and_then(|d| d.pointer(&pointer(path)));
    let shown = match got {
        Some(Value::Number(n)) if n.is_f64() => n
            .as_f64()
            .map(|f| crate::text::significant(f, crate::text::MEASURED_DIGITS))
            .unwrap_or_else(|| n.to_string()),
        Some(g) => g.to_string(),
        None => "missing".into(),
    };
    let mut num = number(got);
    let mut seen = format!("{path} = {shown}");
    if let Some(base_path) = want.get("ratio_to").and_then(Value::as_str) {
        let base = number(doc.and_then(|d| d.pointer(&pointer(base_path))));
        num = match (num, base) {
            (Some(n), Some(b)) if b != 0.0 => Some(n / b),
            (Some(n), Some(_)) => (n == 0.0).then_some(0.0),
            _ => None,
        };
        let ratio = num
            .map(|r| {
                format!(
                    "{}×",
                    crate::text::significant(r, crate::text::MEASURED_DIGITS)
                )
            })
            .unwrap_or_else(|| "no ratio".into());
        seen = format!("{path} = {shown} ({ratio} {base_path})");
    }
    let ok = match want {
        Value::Object(cmp) => {
            cmp.iter()
                .filter(|(op, _)| op.as_str() != "ratio_to")
                .all(|(op, limit)| {
                    let limit = limit.as_f64();
                    match (op.as_str(), num, limit) {
                        ("equals", _, _) => got == cmp.get("equals"),
                        (op, Some(n), Some(l)) => super::compare(op, n, l).unwrap_or(false),
                        _ => false,
                    }
                })
        }
        scalar => match (got, scalar) {
            (Some(g), Value::Number(w)) => g.as_f64() == w.as_f64(),
            (Some(g), w) => g == w,
            (None, _) => false,
        },
    };
    (ok, seen)
}

/// The number a JSON expectation compares, with its limits, for charts.
fn json_value(doc: Option<&Value>, path: &str, want: &Value) -> Option<(f64, Vec<super::Limit>)> {
    let Value::Object(cmp) = want else {
        return None;
    };
    let mut n = number(doc.and_then(|d| d.pointer(&pointer(path))))?;
    if let Some(base_path) = cmp.get("ratio_to").and_then(Value::as_str) {
        n /= number(doc.and_then(|d| d.pointer(&pointer(base_path))))?;
    }
    let limits = cmp
        .iter()
        .filter_map(|(op, l)| {
            super::COMPARISONS
                .contains(&op.as_str())
                .then_some(super::Limit {
                    op: op.clone(),
                    value: l.as_f64()?,
                })
        })
        .collect();
    Some((n, limits))
}

#[async_trait]
impl Provider for HttpProvider {
    fn name(&self) -> &'static str {
        "http"
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        use AttrType::*;
        let mut gate = request_attrs();
        gate.push(AttrSchema::new("body_contains", String));
        gate.push(AttrSchema::new("json", Any));
        vec![
            TypeSchema {
                kind: NodeKind::Gate,
                type_name: "http",
                attrs: gate,
                exactly_one_of: vec![],
                outputs: vec![],
                sensitive_outputs: vec![],
                rollback: None,
            },
            TypeSchema {
                kind: NodeKind::Step,
                type_name: "http_request",
                attrs: request_attrs(),
                exactly_one_of: vec![],
                outputs: vec!["status", "body", "json"],
                sensitive_outputs: vec![],
                rollback: Some(request_attrs()),
            },
            TypeSchema {
                kind: NodeKind::Data,
                type_name: "http",
                attrs: vec![
                    AttrSchema::new("url", String).identity(),
                    AttrSchema::new("headers", StringMap),
                ],
                exactly_one_of: vec![],
                outputs: vec!["status", "body", "json"],
                sensitive_outputs: vec![],
                rollback: None,
            },
        ]
    }

    async fn read(
        &self,
        kind: NodeKind,
        type_name: &str,
        attrs: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        if (kind, type_name) != (NodeKind::Data, "http") {
            return Err(ProviderError::unsupported("http", "read of", type_name));
        }
        Ok(Some(self.send(attrs).await?.into_attrs()))
    }

    async fn run_step(&self, type_name: &str, attrs: &Attrs) -> Result<Attrs, ProviderError> {
        if type_name != "http_request" {
            return Err(ProviderError::unsupported("http", "step", type_name));
        }
        let resp = self.send(attrs).await?;
        let ok = match attrs.get("expect_status").and_then(Value::as_u64) {
            Some(want) => u64::from(resp.status) == want,
            None => (200..300).contains(&resp.status),
        };
        if !ok {
            return Err(ProviderError::failed(format!(
                "HTTP {} from {}: {}",
                resp.status,
                attrs.get("url").and_then(Value::as_str).unwrap_or_default(),
                resp.body.chars().take(200).collect::<String>()
            )));
        }
        Ok(resp.into_attrs())
    }

    async fn check(&self, type_name: &str, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        if type_name != "http" {
            return Err(ProviderError::unsupported("http", "gate", type_name));
        }
        let resp = match self.send(attrs).await {
            Ok(r) => r,
            // An unreachable endpoint is a gate that does not hold yet, not an error.
            Err(e) => {
                return Ok(CheckOutcome {
                    value: None,
                    limits: Vec::new(),
                    holds: false,
                    measured: e.to_string(),
                })
            }
        };
        let want = attrs
            .get("expect_status")
            .and_then(Value::as_u64)
            .unwrap_or(200);
        let mut holds = u64::from(resp.status) == want;
        let mut seen = vec![format!("HTTP {}", resp.status)];
        if let Some(needle) = attrs.get("body_contains").and_then(Value::as_str) {
            let found = resp.body.contains(needle);
            holds &= found;
            seen.push(format!(
                "body {} {needle:?}",
                if found { "contains" } else { "lacks" }
            ));
        }
        let mut charted = None;
        if let Some(Value::Object(expectations)) = attrs.get("json") {
            for (path, expected) in expectations {
                let (ok, text) = check_json(resp.json.as_ref(), path, expected);
                holds &= ok;
                seen.push(text);
                charted = charted.or_else(|| json_value(resp.json.as_ref(), path, expected));
            }
        }
        let outcome = CheckOutcome::new(holds, seen.join(", "));
        Ok(match charted {
            Some((v, limits)) => outcome.with_value(v, limits),
            None => outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_expectations() {
        let doc = json!({"error_rate": 0.4, "status": "ok", "p95": "120"});
        assert!(check_json(Some(&doc), "/error_rate", &json!({"below": 1})).0);
        assert!(!check_json(Some(&doc), "/error_rate", &json!({"above": 1})).0);
        assert!(check_json(Some(&doc), "$.status", &json!("ok")).0);
        assert!(check_json(Some(&doc), "p95", &json!({"below": 200})).0);
        assert_eq!(
            check_json(Some(&doc), "/nope", &json!(1)),
            (false, "/nope = missing".into())
        );
    }
}
