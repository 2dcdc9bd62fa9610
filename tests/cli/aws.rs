//! The aws provider and seed runbook 000 against the moto server (started by
//! scripts/test.sh; its URL in CUTOVER_TEST_AWS_ENDPOINT).

use crate::support::Project;
use aws_sdk_cloudwatch as cw;
use aws_sdk_ecs as ecs;
use aws_sdk_elasticloadbalancingv2 as elb;

pub fn endpoint() -> String {
    std::env::var("CUTOVER_TEST_AWS_ENDPOINT").expect("CUTOVER_TEST_AWS_ENDPOINT is not set: run the tests with ./scripts/test.sh, which starts moto")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// A unique suffix: tests share one moto server.
pub fn unique() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{}{}",
        std::process::id() % 100_000,
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// The RaptorFlow estate before the cutover: an ALB listener forwarding 100/0
/// to two target groups, two ECS services (V1 at 5 tasks, unified at 0).
pub struct Estate {
    pub suffix: String,
    pub listener_arn: String,
    pub lb_dimension: String,
    pub v1_tg: String,
    pub unified_tg: String,
    pub cluster: String,
}

/// A load balancer whose listener forwards 100/0 to two target groups, and a
/// cluster with RaptorFlow's V1 (5 tasks) and unified (0) services.
pub async fn estate() -> Estate {
    estate_with(&[("raptorflow-v1", 5), ("raptorflow-unified", 0)]).await
}

/// The same load balancer, with these services (family = name, desired count).
pub async fn estate_with(services: &[(&str, i32)]) -> Estate {
    let conf = sdk().await;
    let suffix = unique();
    // The default VPC's subnets, read with a raw EC2 query (no EC2 SDK needed).
    let body = reqwest::Client::new()
        .get(format!("{}/?Action=DescribeSubnets&Version=2016-11-15", endpoint()))
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let grab = |tag: &str| -> Vec<String> {
        body.split(&format!("<{tag}>"))
            .skip(1)
            .filter_map(|p| p.split(&format!("</{tag}>")).next())
            .map(str::to_string)
            .collect()
    };
    let (subnets, vpc) = (grab("subnetId"), grab("vpcId")[0].clone());
    let e = elb::Client::new(&conf);
    let lb = e
        .create_load_balancer()
        .name(format!("rf-{suffix}"))
        .set_subnets(Some(subnets[..2].to_vec()))
        .send()
        .await
        .unwrap();
    let lb = lb.load_balancers()[0].clone();
    let tg = |name: String| {
        let e = e.clone();
        let vpc = vpc.clone();
        async move {
            let out = e
                .create_target_group()
                .name(name)
                .protocol(elb::types::ProtocolEnum::Http)
                .port(80)
                .vpc_id(vpc)
                .send()
                .await
                .unwrap();
            out.target_groups()[0]
                .target_group_arn()
                .unwrap()
                .to_string()
        }
    };
    let v1_tg = tg(format!("v1-{suffix}")).await;
    let unified_tg = tg(format!("un-{suffix}")).await;
    let forward = elb::types::ForwardActionConfig::builder()
        .target_groups(
            elb::types::TargetGroupTuple::builder()
                .target_group_arn(&v1_tg)
                .weight(100)
                .build(),
        )
        .target_groups(
            elb::types::TargetGroupTuple::builder()
                .target_group_arn(&unified_tg)
                .weight(0)
                .build(),
        )
        .build();
    let listener = e
        .create_listener()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .protocol(elb::types::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            elb::types::Action::builder()
                .r#type(elb::types::ActionTypeEnum::Forward)
                .forward_config(forward)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_string();
    let c = ecs::Client::new(&conf);
    let cluster = format!("raptorflow-{suffix}");
    c.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    for &(family, count) in services {
        c.register_task_definition()
            .family(family)
            .container_definitions(
                ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image(format!("{family}:1"))
                    .memory(512)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        c.create_service()
            .cluster(&cluster)
            .service_name(family)
            .task_definition(family)
            .desired_count(count)
            .send()
            .await
            .unwrap();
    }
    let lb_arn = lb.load_balancer_arn().unwrap();
    let lb_dimension = lb_arn
        .split(":loadbalancer/")
        .nth(1)
        .unwrap_or(lb_arn)
        .to_string();
    Estate {
        suffix,
        listener_arn,
        lb_dimension,
        v1_tg,
        unified_tg,
        cluster,
    }
}

/// Puts one data point of a metric, now.
pub async fn put_metric(namespace: &str, name: &str, dims: &[(&str, &str)], value: f64) {
    let conf = sdk().await;
    let mut datum = cw::types::MetricDatum::builder()
        .metric_name(name)
        .value(value)
        .timestamp(cw::primitives::DateTime::from(std::time::SystemTime::now()));
    for (k, v) in dims {
        datum = datum.dimensions(cw::types::Dimension::builder().name(*k).value(*v).build());
    }
    cw::Client::new(&conf)
        .put_metric_data()
        .namespace(namespace)
        .metric_data(datum.build())
        .send()
        .await
        .unwrap();
}

pub async fn put_5xx(dimension: &str, value: f64) {
    let conf = sdk().await;
    cw::Client::new(&conf)
        .put_metric_data()
        .namespace("AWS/ApplicationELB")
        .metric_data(
            cw::types::MetricDatum::builder()
                .metric_name("HTTPCode_Target_5XX_Count")
                .dimensions(
                    cw::types::Dimension::builder()
                        .name("LoadBalancer")
                        .value(dimension)
                        .build(),
                )
                .value(value)
                .timestamp(cw::primitives::DateTime::from(std::time::SystemTime::now()))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

pub async fn weights(listener_arn: &str) -> Vec<(String, i32)> {
    let conf = sdk().await;
    let out = elb::Client::new(&conf)
        .describe_listeners()
        .listener_arns(listener_arn)
        .send()
        .await
        .unwrap();
    let mut w: Vec<(String, i32)> = out.listeners()[0].default_actions()[0]
        .forward_config()
        .unwrap()
        .target_groups()
        .iter()
        .map(|t| {
            (
                t.target_group_arn().unwrap().to_string(),
                t.weight().unwrap_or(0),
            )
        })
        .collect();
    w.sort();
    w
}

pub async fn desired(cluster: &str, service: &str) -> i32 {
    let conf = sdk().await;
    let out = ecs::Client::new(&conf)
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap();
    out.services()[0].desired_count()
}

fn run(p: &Project, e: &Estate, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> = vec!["apply".into(), "-auto-approve".into()];
    for (k, v) in [
        ("aws_endpoint", endpoint()),
        ("region", "us-east-1".into()),
        ("listener_arn", e.listener_arn.clone()),
        ("load_balancer", e.lb_dimension.clone()),
        ("v1_target_group", e.v1_tg.clone()),
        ("unified_target_group", e.unified_tg.clone()),
        ("cluster", e.cluster.clone()),
        ("bake", "1s".into()),
        ("gate_interval", "200ms".into()),
        ("gate_timeout", "3s".into()),
    ] {
        args.push("-var".into());
        args.push(format!("{k}={v}"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    p.run_env(
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        &args,
    )
}

#[test]
fn raptorflow_cuts_over_and_rolls_back_when_the_error_gate_fails() {
    let rt = runtime();
    // A healthy cutover: weights end at 0/100, V1 scaled down.
    let e = rt.block_on(estate());
    rt.block_on(put_5xx(&e.lb_dimension, 0.0));
    let p = Project::example("examples/raptorflow-cutover");
    let (code, out, err) = run(&p, &e, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("done     module.traffic.rollout.shift[50].gate.healthy"),
        "{out}"
    );
    let mut want = vec![(e.v1_tg.clone(), 0), (e.unified_tg.clone(), 100)];
    want.sort();
    assert_eq!(rt.block_on(weights(&e.listener_arn)), want);
    assert_eq!(rt.block_on(desired(&e.cluster, "raptorflow-unified")), 5);
    assert_eq!(rt.block_on(desired(&e.cluster, "raptorflow-v1")), 0);
    let lock: serde_json::Value = serde_json::from_str(&p.read("cutover.lock")).unwrap();
    let prior = &lock["nodes"]["module.traffic.rollout.shift[10].aws_lb_listener_weights.weights"]
        ["prior"]["weights"];
    assert_eq!(prior[&e.v1_tg], 100, "{prior}");

    // The same cutover while the new backend throws errors: the first stage's
    // gate fails, the weights go back to 100/0, the services to 5 and 0.
    let e = rt.block_on(estate());
    rt.block_on(put_5xx(&e.lb_dimension, 50.0));
    let p = Project::example("examples/raptorflow-cutover");
    let (code, out, _) = run(&p, &e, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED   module.traffic.rollout.shift[10].gate.healthy: did not hold within 3s; last measured: HTTPCode_Target_5XX_Count Sum = 50 (want below 5)"), "{out}");
    let mut want = vec![(e.v1_tg.clone(), 100), (e.unified_tg.clone(), 0)];
    want.sort();
    assert_eq!(rt.block_on(weights(&e.listener_arn)), want, "{out}");
    assert_eq!(rt.block_on(desired(&e.cluster, "raptorflow-unified")), 0);
    assert_eq!(rt.block_on(desired(&e.cluster, "raptorflow-v1")), 5);
    let _ = &e.suffix;
}

async fn bucket() -> String {
    let name = format!("cutover-state-{}", unique());
    aws_sdk_s3::Client::new(&sdk().await)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    name
}

fn s3_settings() -> cutover::providers::Attrs {
    [
        ("region", "us-east-1".to_string()),
        ("endpoint", endpoint()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
    .collect()
}

#[test]
fn the_s3_state_backend_passes_the_conformance_suite() {
    // SAFETY of env: the SDK reads credentials from the environment; the tests all use the same fake ones.
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let bucket = runtime().block_on(bucket());
    cutover::state::conformance::run(|| {
        let key = format!("state/{}.lock", unique());
        (
            cutover::state::s3::S3Backend::new(&bucket, &key, s3_settings()).unwrap(),
            (),
        )
    });
}

#[test]
fn apply_keeps_its_state_in_s3_and_a_dead_holders_lock_needs_force_unlock() {
    let bucket = runtime().block_on(bucket());
    let spec = format!(
        "migration \"s3state\" {{\n  state \"s3\" {{\n    bucket   = \"{bucket}\"\n    key      = \"cutover/s3state.lock\"\n    region   = \"us-east-1\"\n    endpoint = \"{}\"\n  }}\n}}\nstep \"exec\" \"once\" {{\n  shell = \"echo ran >> ran.log; sleep 0.5\"\n}}\n",
        endpoint()
    );
    let p = Project::new().file("main.hcl", &spec);
    let env = |c: &mut assert_cmd::Command| {
        c.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    };
    let spawn = |args: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("cutover"))
            .current_dir(&p.dir)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (
        spawn(&["apply", "-auto-approve"]),
        spawn(&["apply", "-auto-approve"]),
    );
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "{codes:?}\n{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    assert_eq!(p.read("ran.log"), "ran\n");
    assert!(!p.dir.join("cutover.lock").exists());
    let mut c = p.cmd();
    env(&mut c);
    let out = c.args(["plan", "-detailed-exitcode"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A killed apply leaves its lock object behind.
    let p2 = Project::new().file(
        "main.hcl",
        &spec
            .replace("sleep 0.5", "sleep 20")
            .replace("\"once\"", "\"long\""),
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cutover"))
        .current_dir(&p2.dir)
        .args(["apply", "-auto-approve"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    let _ = child.wait();
    let mut c = p2.cmd();
    env(&mut c);
    let out = c.args(["apply", "-auto-approve"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("the state is locked: apply by"), "{err}");
    let id = err
        .split("cutover force-unlock ")
        .nth(1)
        .unwrap()
        .split('`')
        .next()
        .unwrap()
        .to_string();
    let mut c = p2.cmd();
    env(&mut c);
    assert!(c
        .args(["force-unlock", &id])
        .output()
        .unwrap()
        .status
        .success());
    let mut c = p2.cmd();
    env(&mut c);
    let out = c.args(["state", "list"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn aws_cmd(p: &Project, args: &[&str]) -> (i32, String, String) {
    let out = p
        .cmd()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn provider(endpoint: &str) -> String {
    format!("provider \"aws\" {{\n  region   = \"us-east-1\"\n  endpoint = \"{endpoint}\"\n}}\n")
}

#[test]
fn resources_round_trip_and_plans_show_map_changes_key_by_key() {
    let rt = runtime();
    let e = rt.block_on(estate());
    let s = &e.suffix;
    let spec = format!(
        r#"{}
resource "aws_lb_listener_weights" "canary" {{
  listener_arn = "{}"
  weights      = {{ "{}" = 90, "{}" = 10 }}
}}
resource "aws_ssm_parameter" "flag" {{
  name  = "/flags/{s}/unified"
  value = "on"
}}
resource "aws_ssm_parameter" "secret" {{
  name  = "/secrets/{s}/token"
  value = "hunter2"
  type  = "SecureString"
}}
resource "aws_appautoscaling_policy" "cpu" {{
  policy_name  = "cpu-{s}"
  resource_id  = "service/{}/raptorflow-unified"
  min_capacity = 1
  max_capacity = 4
  target_value = 60
}}
resource "aws_cloudwatch_metric_alarm" "errors" {{
  alarm_name          = "errors-{s}"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 10
  comparison_operator = "GreaterThanThreshold"
}}
"#,
        provider(&endpoint()),
        e.listener_arn,
        e.v1_tg,
        e.unified_tg,
        e.cluster
    );
    let conf = rt.block_on(sdk());
    rt.block_on(
        aws_sdk_ssm::Client::new(&conf)
            .put_parameter()
            .name(format!("/secrets/{s}/token"))
            .value("old-secret")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send(),
    )
    .unwrap();
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, err) = aws_cmd(&p, &["plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("~ weights[\"{}\"] = 100 → 90", e.v1_tg)),
        "{out}"
    );
    assert!(
        out.contains(&format!("~ weights[\"{}\"] = 0 → 10", e.unified_tg)),
        "{out}"
    );
    assert!(
        out.contains("~ value = (sensitive) → (sensitive)")
            && !out.contains("hunter2")
            && !out.contains("old-secret"),
        "{out}"
    );
    let (code, out, err) = aws_cmd(&p, &["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !p.read("cutover.lock").contains("hunter2"),
        "secrets are stored as digests"
    );
    let (code, out, _) = aws_cmd(&p, &["plan", "-detailed-exitcode"]);
    assert_eq!(code, 0, "what was applied reads back as no change: {out}");
    // Rollback: what did not exist is removed; the pre-existing secret's old
    // value was never stored, so the rollback stops there and says what is left.
    let (code, out, _) = aws_cmd(&p, &["rollback", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "undone   aws_cloudwatch_metric_alarm.errors: removed: it did not exist before"
        ),
        "{out}"
    );
    assert!(out.contains("FAILED   aws_ssm_parameter.secret: its prior `value` is sensitive and was recorded only as a digest; restore it by hand"), "{out}");
    assert!(out.contains("Still to undo: aws_ssm_parameter.secret, aws_ssm_parameter.flag, aws_lb_listener_weights.canary"), "{out}");
    let lock = p.read("cutover.lock");
    assert!(
        !lock.contains("hunter2") && !lock.contains("old-secret"),
        "secrets are stored as digests"
    );
    let conf = rt.block_on(sdk());
    let alarms = rt
        .block_on(
            cw::Client::new(&conf)
                .describe_alarms()
                .alarm_names(format!("errors-{s}"))
                .send(),
        )
        .unwrap();
    assert!(
        alarms.metric_alarms().is_empty(),
        "the alarm did not exist before: it is removed"
    );
    // Put the secret back by hand, record it, and finish the rollback.
    rt.block_on(
        aws_sdk_ssm::Client::new(&conf)
            .put_parameter()
            .name(format!("/secrets/{s}/token"))
            .value("old-secret")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send(),
    )
    .unwrap();
    assert_eq!(
        aws_cmd(
            &p,
            &[
                "state",
                "resolve",
                "aws_ssm_parameter.secret",
                "--rolled-back"
            ]
        )
        .0,
        0
    );
    let (code, out, _) = aws_cmd(&p, &["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let mut want = vec![(e.v1_tg.clone(), 100), (e.unified_tg.clone(), 0)];
    want.sort();
    assert_eq!(rt.block_on(weights(&e.listener_arn)), want, "{out}");
    let param = rt.block_on(
        aws_sdk_ssm::Client::new(&conf)
            .get_parameter()
            .name(format!("/flags/{s}/unified"))
            .send(),
    );
    assert!(
        param.is_err(),
        "the flag did not exist before: it is removed"
    );
}

#[test]
fn a_cloudwatch_gate_says_what_to_do_without_data() {
    // "fail" and "pass" end at the first measurement: their timeout only has
    // to outlast a slow first answer from a loaded moto; "wait" runs it out.
    let spec = |no_data: &str| {
        let timeout = if no_data == "wait" { "5s" } else { "30s" };
        format!(
            "{}gate \"cloudwatch\" \"quiet\" {{\n  namespace = \"Empty/{}\"\n  metric = \"Nothing\"\n  statistic = \"Sum\"\n  below = 1\n  no_data = \"{no_data}\"\n  interval = \"100ms\"\n  timeout = \"{timeout}\"\n}}\n",
            provider(&endpoint()),
            unique()
        )
    };
    let (code, out, _) = aws_cmd(
        &Project::new().file("main.hcl", &spec("fail")),
        &["apply", "-auto-approve"],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("Nothing Sum: no data in the last 5m (no_data = \"fail\")"),
        "{out}"
    );
    let (code, out, _) = aws_cmd(
        &Project::new().file("main.hcl", &spec("pass")),
        &["apply", "-auto-approve"],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = aws_cmd(
        &Project::new().file("main.hcl", &spec("wait")),
        &["apply", "-auto-approve"],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("did not hold within 5s; last measured: Nothing Sum: no data yet"),
        "{out}"
    );
}

#[test]
fn missing_credentials_are_a_clear_error_and_change_nothing() {
    let e = runtime().block_on(estate());
    let spec = format!("{}resource \"aws_lb_listener_weights\" \"w\" {{\n  listener_arn = \"{}\"\n  weights = {{ \"{}\" = 50 }}\n}}\n", provider(&endpoint()), e.listener_arn, e.v1_tg);
    let p = Project::new().file("main.hcl", &spec);
    let out = p
        .cmd()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["apply", "-auto-approve"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("refreshing aws_lb_listener_weights.w failed: describing listener")
            && err.contains("credentials"),
        "{err}"
    );
    assert!(!p.dir.join("cutover.lock").exists());
}

/// A loopback proxy in front of moto that answers the first `faults`
/// requests with 503 (as AWS does when it throttles), then forwards.
fn flaky_proxy(faults: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let target = endpoint().trim_start_matches("http://").to_string();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&served);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut client = stream;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            // Headers, then as much body as Content-Length says.
            let header_end = loop {
                let n = match client.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(header_end) = header_end else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < header_end + len {
                match client.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < faults {
                let _ = client.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            }
            let head = head
                .replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
                .replace("Connection: keep-alive\r\n", "");
            let Ok(mut up) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            let _ = up.write_all(head.as_bytes());
            let _ = up.write_all(&buf[header_end..]);
            let mut resp = Vec::new();
            let _ = up.read_to_end(&mut resp);
            let _ = client.write_all(&resp);
        }
    });
    (format!("http://{addr}"), served)
}

#[test]
fn throttling_and_5xx_are_retried() {
    let e = runtime().block_on(estate());
    let (proxy, served) = flaky_proxy(3);
    let spec = format!(
        "{}data \"aws_lb_listener\" \"l\" {{\n  listener_arn = \"{}\"\n}}\n",
        provider(&proxy),
        e.listener_arn
    );
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, err) = aws_cmd(&p, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("= data.aws_lb_listener.l"), "{out}");
    assert!(
        served.load(std::sync::atomic::Ordering::SeqCst) >= 4,
        "three faults, then the answer"
    );
}

#[test]
fn raptorflow_go_live_scales_to_the_table_arms_alerts_and_rolls_back_on_memory() {
    // Seed runbook 001 against moto: four services from the scaling table.
    use aws_sdk_applicationautoscaling as aas;
    let rt = runtime();
    let table = [
        ("orchestrator", 2, 20),
        ("v1-agents", 1, 10),
        ("v2-agents", 3, 50),
        ("api-gateway", 2, 15),
    ];
    let before = [
        ("orchestrator", 1),
        ("v1-agents", 4),
        ("v2-agents", 0),
        ("api-gateway", 1),
    ];
    let go_live = |memory_of_v2: f64| {
        let e = rt.block_on(estate_with(&before));
        rt.block_on(async {
            for (svc, _) in before {
                let dims = [("ClusterName", e.cluster.as_str()), ("ServiceName", svc)];
                put_metric("AWS/ECS", "CPUUtilization", &dims, 35.0).await;
                let mem = if svc == "v2-agents" {
                    memory_of_v2
                } else {
                    50.0
                };
                put_metric("AWS/ECS", "MemoryUtilization", &dims, mem).await;
            }
            put_metric(
                "AWS/RDS",
                "FreeStorageSpace",
                &[("DBInstanceIdentifier", e.cluster.as_str())],
                1.0e10,
            )
            .await;
            put_5xx(&e.lb_dimension, 0.0).await;
        });
        let p = Project::example("examples/raptorflow-scaling");
        let database = format!("database={}", e.cluster);
        let (code, out, err) = run(&p, &e, &["-var", &database]);
        (e, code, format!("{out}{err}"))
    };
    let alarms = |cluster: &str| -> Vec<String> {
        rt.block_on(async {
            let out = cw::Client::new(&sdk().await)
                .describe_alarms()
                .alarm_name_prefix(cluster)
                .send()
                .await
                .unwrap();
            let mut names: Vec<String> = out
                .metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_string))
                .collect();
            names.sort();
            names
        })
    };
    let targets = |cluster: &str| -> Vec<(String, i32, i32)> {
        rt.block_on(async {
            // Asked by resource id: the answer is paged, and moto keeps every
            // test's targets.
            let mut ask = aas::Client::new(&sdk().await)
                .describe_scalable_targets()
                .service_namespace(aas::types::ServiceNamespace::Ecs);
            for (svc, _, _) in table {
                ask = ask.resource_ids(format!("service/{cluster}/{svc}"));
            }
            let out = ask.send().await.unwrap();
            let mut t: Vec<(String, i32, i32)> = out
                .scalable_targets()
                .iter()
                .filter(|t| t.resource_id().contains(&format!("/{cluster}/")))
                .map(|t| {
                    (
                        t.resource_id().rsplit('/').next().unwrap_or("").to_string(),
                        t.min_capacity(),
                        t.max_capacity(),
                    )
                })
                .collect();
            t.sort();
            t
        })
    };

    let (e, code, out) = go_live(50.0);
    assert_eq!(code, 0, "{out}");
    for (svc, min, max) in table {
        assert_eq!(rt.block_on(desired(&e.cluster, svc)), min, "{svc}: {out}");
        assert!(
            targets(&e.cluster).contains(&(svc.to_string(), min, max)),
            "{svc}: {:?}",
            targets(&e.cluster)
        );
    }
    assert_eq!(alarms(&e.cluster).len(), 10, "{:?}", alarms(&e.cluster));
    let mut want = vec![(e.v1_tg.clone(), 0), (e.unified_tg.clone(), 100)];
    want.sort();
    assert_eq!(rt.block_on(weights(&e.listener_arn)), want);

    // v2-agents runs out of memory: its gate fails, nothing of the go-live stays.
    let (e, code, out) = go_live(92.0);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   module.service[\"v2_agents\"].gate.memory_ok: did not hold within 3s; last measured: MemoryUtilization Average = 92 (want below 85)"),
        "{out}"
    );
    for (svc, count) in before {
        assert_eq!(rt.block_on(desired(&e.cluster, svc)), count, "{svc}: {out}");
    }
    assert_eq!(alarms(&e.cluster), Vec::<String>::new(), "{out}");
    let mut want = vec![(e.v1_tg.clone(), 100), (e.unified_tg.clone(), 0)];
    want.sort();
    assert_eq!(rt.block_on(weights(&e.listener_arn)), want);
}

#[test]
fn terraform_outputs_are_read_from_a_state_in_s3() {
    let rt = runtime();
    let bucket = rt.block_on(bucket());
    let state =
        std::fs::read(crate::support::repo().join("tests/fixtures/terraform-state/green.tfstate"))
            .unwrap();
    rt.block_on(
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&rt.block_on(sdk()))
                .force_path_style(true)
                .build(),
        )
        .put_object()
        .bucket(&bucket)
        .key("infra/terraform.tfstate")
        .body(state.into())
        .send(),
    )
    .unwrap();
    let p = Project::new().file(
        "main.hcl",
        &format!(
            "provider \"aws\" {{\n  region   = \"us-east-1\"\n  endpoint = \"{}\"\n}}\ndata \"terraform_outputs\" \"infra\" {{\n  backend = \"s3\"\n  bucket  = \"{bucket}\"\n  key     = \"infra/terraform.tfstate\"\n}}\noutput \"listener\" {{\n  value = data.terraform_outputs.infra.values.listener_arn\n}}\noutput \"password\" {{\n  value     = data.terraform_outputs.infra.sensitive_values.db_password\n  sensitive = true\n}}\n",
            endpoint()
        ),
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let (code, out, err) = p.run_env(&env, &["plan", "-no-color"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("Outputs:\n  listener = \"arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/green\"\n  password = (sensitive)\n\nPlan: No changes. 0 done, 1 unchanged.\n"), "{out}");
    // A key that is not there: the error names the object.
    let spec = p
        .read("main.hcl")
        .replace("infra/terraform.tfstate", "nothing/here");
    let p = p.file("main.hcl", &spec);
    let (code, _, err) = p.run_env(&env, &["plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("reading s3://{bucket}/nothing/here: NoSuchKey")),
        "{err}"
    );
}
