//! The prometheus gate against a small Prometheus stand-in on loopback that
//! answers /api/v1/query as Prometheus does.

use crate::support::{form_decode, serve, Project};
use serde_json::json;

fn vector(series: &[(serde_json::Value, &str)]) -> String {
    let result: Vec<_> = series
        .iter()
        .map(|(m, v)| json!({ "metric": m, "value": [1764100000.0, v] }))
        .collect();
    json!({ "status": "success", "data": { "resultType": "vector", "result": result } }).to_string()
}

fn prometheus() -> String {
    serve(|target| {
        let query = target
            .split_once("query=")
            .map(|(_, q)| form_decode(q.split('&').next().unwrap_or("")))
            .unwrap_or_default();
        match query.as_str() {
            r#"up{job="api"}"# => (200, vector(&[(json!({ "instance": "a" }), "1"), (json!({ "instance": "b" }), "1")])),
            r#"sum(rate(http_errors_total{version="v2"}[5m]))"# => (200, vector(&[(json!({}), "0.8")])),
            r#"sum(rate(http_errors_total{version="v1"}[5m]))"# => (200, vector(&[(json!({}), "0.5")])),
            "absent_metric" => (200, vector(&[])),
            q => (
                400,
                json!({ "status": "error", "errorType": "bad_data", "error": format!("1:1: parse error: unexpected {q:?}") }).to_string(),
            ),
        }
    })
}

fn gate(body: &str) -> Project {
    Project::new().file(
        "main.hcl",
        &format!("gate \"prometheus\" \"g\" {{\n{body}\n  interval = \"100ms\"\n  timeout = \"500ms\"\n}}\n"),
    )
}

#[test]
fn every_series_must_satisfy_the_thresholds() {
    let url = prometheus();
    // The server from the provider block.
    let p = gate(
        r#"  query = "up{job=\"api\"}"
  at_least = 1"#,
    )
    .file(
        "provider.hcl",
        &format!("provider \"prometheus\" {{\n  url = \"{url}\"\n}}\n"),
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(r#"held: {instance="a"} 1, {instance="b"} 1 (want at least 1)"#),
        "{out}"
    );
    let (code, out, _) = gate(&format!(
        "  url = \"{url}\"\n  query = \"up{{job=\\\"api\\\"}}\"\n  above = 1"
    ))
    .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not hold within 500ms; last measured: {instance=\"a\"} 1, {instance=\"b\"} 1 (want above 1)"), "{out}");
}

#[test]
fn a_ratio_to_a_baseline_query() {
    let url = prometheus();
    let spec = |limit: &str| {
        format!("  url = \"{url}\"\n  query = \"sum(rate(http_errors_total{{version=\\\"v2\\\"}}[5m]))\"\n  baseline_query = \"sum(rate(http_errors_total{{version=\\\"v1\\\"}}[5m]))\"\n  below = {limit}")
    };
    let (code, out, err) = gate(&spec("2")).run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("held: 0.8 ÷ baseline 0.5 = 1.6× (want below 2)"),
        "{out}"
    );
    let (code, out, _) = gate(&spec("1.5")).run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("last measured: 0.8 ÷ baseline 0.5 = 1.6× (want below 1.5)"),
        "{out}"
    );
}

#[test]
fn a_rejected_query_fails_at_once_and_missing_data_waits_or_fails() {
    let url = prometheus();
    let (code, out, _) = gate(&format!(
        "  url = \"{url}\"\n  query = \"rate(\"\n  below = 1"
    ))
    .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   gate.g: Prometheus rejected `rate(`: 1:1: parse error: unexpected \"rate(\" (bad_data)"),
        "{out}"
    );
    let (code, out, _) = gate(&format!(
        "  url = \"{url}\"\n  query = \"absent_metric\"\n  below = 1"
    ))
    .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("did not hold within 500ms; last measured: no data yet"),
        "{out}"
    );
    let (code, out, _) = gate(&format!(
        "  url = \"{url}\"\n  query = \"absent_metric\"\n  below = 1\n  no_data = \"fail\""
    ))
    .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   gate.g: `absent_metric` returned no data (no_data = \"fail\")"),
        "{out}"
    );
    // An unreachable server is a gate that does not hold yet.
    let (code, out, _) =
        gate("  url = \"http://127.0.0.1:1\"\n  query = \"up\"").run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("did not hold within 500ms; last measured: http://127.0.0.1:1/api/v1/query:"),
        "{out}"
    );
}

#[test]
fn against_a_real_prometheus_server() {
    // scripts/services.sh starts Prometheus scraping a static exporter:
    // v1 5 errors in 1000 requests, v2 8 in 200.
    let url = std::env::var("CUTOVER_TEST_PROMETHEUS").expect("CUTOVER_TEST_PROMETHEUS is not set: run the tests with ./scripts/test.sh, which starts Prometheus");
    let rate = |v: &str| {
        format!("sum(http_errors_total{{version=\\\"{v}\\\"}}) / sum(http_requests_total{{version=\\\"{v}\\\"}})")
    };
    let spec = |extra: &str| format!("  url = \"{url}\"\n  query = \"{}\"\n{extra}", rate("v2"));
    // The canary's error rate, 4 %, is under the runbook's 5 %...
    let (code, out, err) = gate(&spec("  below = 0.05")).run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("held: 0.04 (want below 0.05)"), "{out}");
    // ...but eight times the baseline's 0.5 %, over the runbook's 2×.
    let baseline = format!("  baseline_query = \"{}\"\n", rate("v1"));
    let (code, out, _) = gate(&spec(&format!(
        "{baseline}  below = 2\n  failure_limit = 2"
    )))
    .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("did not hold in 2 measurements in a row (failure_limit); last measured: 0.04 ÷ baseline 0.005 = 8× (want below 2)"),
        "{out}"
    );
    // Every series: each version's request counter is above 100.
    let (code, out, err) = gate(&format!(
        "  url = \"{url}\"\n  query = \"http_requests_total\"\n  above = 100"
    ))
    .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("version=\"v2\"} 200"), "{out}");
    // Prometheus's own parser rejects a malformed query: the gate fails at once.
    let (code, out, _) = gate(&format!(
        "  url = \"{url}\"\n  query = \"sum(rate(\"\n  below = 1"
    ))
    .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   gate.g: Prometheus rejected `sum(rate(`: "),
        "{out}"
    );
    assert!(out.contains("(bad_data)"), "{out}");
}
