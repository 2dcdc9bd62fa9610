//! `cutover apply` and `cutover rollback` through the real binary: the
//! lockfile, re-apply, saved plans, locking, resume after kill -9, Ctrl-C,
//! failure and rollback, waves, retries and timeouts.

use crate::support::{free_port, repo, wait_started, Project};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn assert_lockfile_schema(p: &Project) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/lockfile.schema.json")).unwrap(),
    )
    .unwrap();
    let doc: Value = serde_json::from_str(&p.read("cutover.lock")).unwrap();
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

fn status(p: &Project, address: &str) -> String {
    let doc: Value = serde_json::from_str(&p.read("cutover.lock")).unwrap();
    doc["nodes"][address]["status"]
        .as_str()
        .unwrap_or("absent")
        .to_string()
}

#[test]
fn quickstart_applies_end_to_end_and_reapplies_as_no_change() {
    let p = Project::example("examples/quickstart");
    let port = free_port().to_string();
    let var = format!("port={port}");
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Apply complete."), "{out}");
    assert_eq!(p.read("state/routing.json"), "{\"v1\":0,\"v2\":100}");
    assert_lockfile_schema(&p);
    let lock = p.read("cutover.lock");
    let doc: Value = serde_json::from_str(&lock).unwrap();
    // Pretty JSON with sorted keys.
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(
        doc["nodes"]["rollout.traffic[10].local_file.routing"]["prior"]["content"],
        "{\"v1\":100,\"v2\":0}\n"
    );
    assert_eq!(doc["outputs"]["backup_path"], "state/routing.json.bak");
    assert!(
        !p.dir.join("cutover.lock.journal").exists(),
        "the journal is folded at the end"
    );
    let (code, out, _) = p.run(&["plan", "-detailed-exitcode", "-var", &var]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes."), "{out}");
    let (code, out, _) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0);
    assert!(out.contains("Nothing to apply."), "{out}");
    assert_eq!(
        p.read("cutover.lock"),
        lock,
        "an unchanged lockfile is not rewritten"
    );
    let (code, out, _) = p.run(&["output", "backup_path"]);
    assert_eq!((code, out.as_str()), (0, "state/routing.json.bak\n"));
}

#[test]
fn a_failing_gate_rolls_everything_back_byte_for_byte() {
    let p = Project::example("examples/quickstart");
    std::fs::create_dir_all(p.dir.join("state")).unwrap();
    // Content the seed step would never write, with an unusual mode.
    let original = "{\"v1\":100,\"v2\":0,\"note\":\"hand-edited\\u00e9\"}\n  \n";
    std::fs::write(p.dir.join("state/routing.json"), original).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        p.dir.join("state/routing.json"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let port = format!("port={}", free_port());
    let (code, out, _) = p.run(&[
        "apply",
        "-auto-approve",
        "-var",
        &port,
        "-var",
        "fail_at=50",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED   rollout.traffic[50].gate.healthy: did not hold within 10s; last measured: HTTP 200, /v2 = 50, /error_rate = 0.5"), "{out}");
    assert!(
        out.contains("skipped  rollout.traffic[100].local_file.routing"),
        "{out}"
    );
    // Waves where everything was skipped, and gates merely reset, get no line.
    assert!(out.contains("  wave 7 done\n"), "{out}");
    assert!(
        !out.contains("wave 8 done") && !out.contains("wave 10 done"),
        "{out}"
    );
    assert!(
        !out.contains("undone   rollout.traffic[10].gate.healthy"),
        "{out}"
    );
    assert!(out.contains("Rolling back: 5 nodes to visit"), "{out}");
    assert!(
        out.contains(
            "Apply failed at rollout.traffic[50].gate.healthy; rolled back: 4 undone, 1 kept, 3 gates to check again."
        ),
        "{out}"
    );
    assert_eq!(
        std::fs::read(p.dir.join("state/routing.json")).unwrap(),
        original.as_bytes()
    );
    let mode = std::fs::metadata(p.dir.join("state/routing.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(
        status(&p, "rollout.traffic[10].local_file.routing"),
        "rolled_back"
    );
    assert_eq!(status(&p, "rollout.traffic[50].gate.healthy"), "failed");
    assert_eq!(status(&p, "step.stop_service"), "skipped");
    // The service was stopped by start_service's rollback: its port is closed.
    let port: u16 = port.trim_start_matches("port=").parse().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the demo service should have been stopped by the rollback"
    );
}

const STEPS: &str = r#"
migration "steps" {}

step "exec" "a" {
  shell = "echo a >> ran.log"
}

step "exec" "b" {
  shell      = "echo b >> ran.log"
  depends_on = [step.a]
}

resource "local_file" "out" {
  path    = "out.txt"
  content = "after"
  depends_on = [step.b]
}
"#;

#[test]
fn apply_needs_confirmation_without_a_terminal() {
    let p = Project::new().file("main.hcl", STEPS);
    let (code, out, err) = p.run(&["apply"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refusing to apply without confirmation"),
        "{err}"
    );
    assert!(out.contains("> step.a"), "the plan is shown first: {out}");
    assert!(!p.dir.join("ran.log").exists() && !p.dir.join("cutover.lock").exists());
}

#[test]
fn saved_plans_apply_when_current_and_are_refused_when_stale() {
    let p = Project::new()
        .file("main.hcl", STEPS)
        .file("out.txt", "before");
    assert_eq!(p.run(&["plan", "-out", "a.plan"]).0, 0);
    std::fs::write(p.dir.join("out.txt"), "edited meanwhile").unwrap();
    let (code, _, err) = p.run(&["apply", "a.plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the saved plan a.plan is stale, so nothing was applied"),
        "{err}"
    );
    assert!(
        err.contains("local_file.out changed since the plan was made"),
        "{err}"
    );
    assert!(!p.dir.join("ran.log").exists());
    assert_eq!(p.run(&["plan", "-out", "b.plan"]).0, 0);
    let (code, out, err) = p.run(&["apply", "b.plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(p.read("out.txt"), "after");
    assert_eq!(p.read("ran.log"), "a\nb\n");
    // A plan made before that apply is stale now: the lockfile moved on.
    let (code, _, err) = p.run(&["apply", "b.plan"]);
    assert_eq!(code, 1);
    assert!(err.contains("the lockfile changed"), "{err}");
}

#[test]
fn second_apply_is_refused_naming_the_holder() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"slow\" {\n  shell = \"sleep 2\"\n}\n",
    );
    let mut first = p.spawn(&["apply", "-auto-approve"]);
    wait_started(&p, "step.slow");
    let started = Instant::now();
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    assert!(err.contains("the state is locked: apply by"), "{err}");
    assert!(err.contains(&format!("(pid {})", first.id())), "{err}");
    let (code, _, err) = p.run(&["force-unlock", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("held by a live process"), "{err}");
    // Waiting for the lock works.
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-lock-timeout", "20s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(first.wait().unwrap().success());
}

#[test]
fn corrupt_lockfile_is_refused_by_apply() {
    let p = Project::new()
        .file("main.hcl", STEPS)
        .file("cutover.lock", "{\"format_version\": 1, \"nodes\": ");
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a valid cutover lockfile"), "{err}");
    assert_eq!(
        p.read("cutover.lock"),
        "{\"format_version\": 1, \"nodes\": "
    );
    assert!(!p.dir.join("ran.log").exists());
}

#[test]
fn max_waves_stops_after_the_first_wave_and_apply_continues() {
    let p = Project::new().file("main.hcl", STEPS);
    let (code, out, _) = p.run(&["apply", "-auto-approve", "--max-waves", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("stopped after wave 1 as asked (--max-waves 1)"),
        "{out}"
    );
    assert_eq!(p.read("ran.log"), "a\n");
    let (_, out, _) = p.run(&["plan"]);
    assert!(
        out.contains("✓ step.a") && out.contains("> step.b"),
        "{out}"
    );
    assert_eq!(p.run(&["apply", "-auto-approve"]).0, 0);
    assert_eq!(p.read("ran.log"), "a\nb\n");
}

#[test]
fn strict_waves_puts_a_barrier_between_waves() {
    let spec = r#"
step "exec" "fast" {
  shell = "echo start-fast >> log"
}
step "exec" "slow" {
  shell = "sleep 0.6; echo end-slow >> log"
}
step "exec" "next" {
  shell      = "echo start-next >> log"
  depends_on = [step.fast]
}
"#;
    let loose = Project::new().file("main.hcl", spec);
    assert_eq!(loose.run(&["apply", "-auto-approve"]).0, 0);
    let log = loose.read("log");
    assert!(
        log.find("start-next").unwrap() < log.find("end-slow").unwrap(),
        "{log}"
    );
    let strict = Project::new().file("main.hcl", spec);
    assert_eq!(
        strict.run(&["apply", "-auto-approve", "--strict-waves"]).0,
        0
    );
    let log = strict.read("log");
    assert!(
        log.find("start-next").unwrap() > log.find("end-slow").unwrap(),
        "{log}"
    );
}

#[test]
fn retries_with_backoff_and_timeouts() {
    let p = Project::new().file(
        "main.hcl",
        r#"
migration "r" {
  on_failure = "stop"
}
step "exec" "flaky" {
  shell = "n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 2 ]"
  retry {
    attempts = 4
    backoff  = "50ms"
  }
}
step "exec" "stuck" {
  shell   = "sleep 20"
  timeout = "300ms"
  depends_on = [step.flaky]
}
"#,
    );
    let started = Instant::now();
    let (code, out, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        out.contains(
            "retry    step.flaky: attempt 1: command exited with status 1; retrying in 50ms"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "retry    step.flaky: attempt 2: command exited with status 1; retrying in 100ms"
        ),
        "{out}"
    );
    assert!(out.contains("done     step.flaky"), "{out}");
    assert_eq!(p.read("n"), "3\n");
    assert!(
        out.contains("FAILED   step.stuck: timed out after 300ms"),
        "{out}"
    );
    assert!(out.contains("nothing was rolled back"), "{out}");
    assert_eq!(status(&p, "step.stuck"), "failed");
}

#[test]
fn json_events_one_per_line() {
    let p = Project::new().file("main.hcl", STEPS);
    let (code, out, _) = p.run(&["apply", "-auto-approve", "--json"]);
    assert_eq!(code, 0);
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"apply_started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "node_done").count(), 3);
    assert!(events.iter().all(|e| e["time"].is_string()));
}

#[test]
fn state_commands_list_show_and_resolve() {
    let p = Project::new().file("main.hcl", STEPS);
    assert_eq!(p.run(&["apply", "-auto-approve"]).0, 0);
    let (_, out, _) = p.run(&["state", "list"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("step.a") && l.contains("done")),
        "{out}"
    );
    let (_, out, _) = p.run(&["state", "show", "local_file.out"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["prior"], Value::Null);
    assert_eq!(v["applied"]["content"], "after");
    let (code, _, err) = p.run(&["state", "show", "step.nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("the state has no node step.nope"), "{err}");
    let (code, out, _) = p.run(&["state", "resolve", "step.b", "--failed"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "step.b is now recorded as failed.\n")
    );
    let (_, out, _) = p.run(&["plan"]);
    assert!(
        out.lines()
            .any(|l| l.contains("> step.b")
                && l.ends_with("failed in the last apply; will run again")),
        "{out}"
    );
}

#[test]
fn rollback_on_demand_restores_files() {
    let p = Project::new()
        .file("main.hcl", STEPS)
        .file("out.txt", "before\n");
    assert_eq!(p.run(&["apply", "-auto-approve"]).0, 0);
    assert_eq!(p.read("out.txt"), "after");
    let (code, _, err) = p.run(&["rollback"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refusing to roll back without confirmation"),
        "{err}"
    );
    let (code, out, _) = p.run(&["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("local_file.out: restore its object to the state before the migration"),
        "{out}"
    );
    assert!(
        out.contains("kept     step.a: no rollback block: its effects stay"),
        "{out}"
    );
    assert_eq!(p.read("out.txt"), "before\n");
    assert_eq!(status(&p, "local_file.out"), "rolled_back");
}

#[test]
fn points_of_no_return_need_approval() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"email\" {\n  shell = \"echo sent >> sent.log\"\n  irreversible = true\n}\n",
    );
    assert_eq!(p.run(&["plan", "-out", "p.plan"]).0, 0);
    let (code, out, _) = p.run(&["apply", "p.plan"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("stopped before the point of no return step.email"),
        "{out}"
    );
    assert!(!p.dir.join("sent.log").exists());
    let (code, _, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0);
    assert_eq!(p.read("sent.log"), "sent\n");
}

fn sigint(pid: u32) {
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn ctrl_c_waits_for_running_nodes_then_stops() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"a\" {\n  shell = \"sleep 1; echo a >> ran.log\"\n}\nstep \"exec\" \"b\" {\n  shell = \"echo b >> ran.log\"\n  depends_on = [step.a]\n}\n",
    );
    let child = p.spawn(&["apply", "-auto-approve"]);
    wait_started(&p, "step.a");
    sigint(child.id());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("Interrupted: starting nothing new; waiting up to 20s for step.a to finish. Interrupt again to cancel it."), "{stdout}");
    assert!(
        stdout.contains("Apply interrupted: what finished is recorded; apply again to resume."),
        "{stdout}"
    );
    assert_eq!(p.read("ran.log"), "a\n", "a finished, b never started");
    assert_eq!(status(&p, "step.a"), "done");
    assert_eq!(p.run(&["apply", "-auto-approve"]).0, 0);
    assert_eq!(p.read("ran.log"), "a\nb\n");
}

#[test]
fn second_ctrl_c_cancels_running_nodes_and_kills_their_processes() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"long\" {\n  shell = \"sleep 6; touch finished\"\n}\n",
    );
    let spawned = Instant::now();
    let child = p.spawn(&["apply", "-auto-approve"]);
    wait_started(&p, "step.long");
    sigint(child.id());
    std::thread::sleep(Duration::from_millis(200));
    sigint(child.id());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    // Well before the step would have ended on its own (a loaded machine
    // may take a second or two to settle the cancel).
    assert!(started.elapsed() < Duration::from_secs(4));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Cancelling step.long."), "{stdout}");
    assert!(stdout.contains("  stopped  step.long: cancelled by a second interrupt; apply resumes it as a step found running after a crash"), "{stdout}");
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert_eq!(status(&p, "step.long"), "interrupted");
    // Past the moment the step would have touched the file, had it lived.
    std::thread::sleep(
        (spawned + Duration::from_millis(6500)).saturating_duration_since(Instant::now()),
    );
    assert!(
        !p.dir.join("finished").exists(),
        "the step's processes were killed"
    );
}

#[test]
fn of_two_simultaneous_applies_exactly_one_wins() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"once\" {\n  shell = \"echo ran >> ran.log; sleep 0.5\"\n}\n",
    );
    let a = p.spawn(&["apply", "-auto-approve"]);
    let b = p.spawn(&["apply", "-auto-approve"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "{codes:?}"
    );
    let loser = if a.status.success() { &b } else { &a };
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(err.contains("the state is locked: apply by"), "{err}");
    assert_eq!(p.read("ran.log"), "ran\n", "the step ran once");
}

/// A lockfile in which the last apply died while `step.*` were running.
fn interrupted(p: &Project, steps: &[&str]) {
    let (_, out, _) = p.run(&["plan", "--format", "json"]);
    let plan: Value = serde_json::from_str(&out).unwrap();
    let mut nodes = serde_json::Map::new();
    for n in plan["nodes"].as_array().unwrap() {
        let addr = n["address"].as_str().unwrap();
        if steps.contains(&addr) {
            nodes.insert(addr.into(), serde_json::json!({ "status": "started", "digest": n["digest"], "kind": "step", "type_name": "exec", "started_at": "2026-11-25T10:00:00Z" }));
        }
    }
    let lock = serde_json::json!({ "format_version": 1, "migration": "resume", "lineage": plan["lineage"], "serial": 1, "spec_digest": "x", "nodes": nodes });
    std::fs::write(
        p.dir.join("cutover.lock"),
        serde_json::to_string_pretty(&lock).unwrap(),
    )
    .unwrap();
}

#[test]
fn an_interrupted_step_runs_again_only_when_that_is_safe() {
    let spec = r#"
migration "resume" {}
variable "safe_to_repeat" {
  default = true
}
step "exec" "checked" {
  shell     = "echo checked >> ran.log; touch checked.done"
  done_when = "test -f checked.done"
}
step "exec" "retryable" {
  shell      = "echo retryable >> ran.log"
  idempotent = var.safe_to_repeat # evaluated, not only a literal
}
step "exec" "risky" {
  shell = "echo risky >> ran.log"
}
"#;
    // done_when holds: recorded done without running; idempotent: runs again.
    let p = Project::new()
        .file("main.hcl", spec)
        .file("checked.done", "");
    interrupted(&p, &["step.checked", "step.retryable"]);
    let (_, out, _) = p.run(&["plan"]);
    assert!(
        out.contains("✓ step.checked    done_when holds (done_when exited 0)"),
        "{out}"
    );
    assert!(
        out.contains("> step.retryable  interrupted during the last apply"),
        "{out}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut ran: Vec<String> = p.read("ran.log").lines().map(str::to_string).collect();
    ran.sort();
    assert_eq!(
        ran,
        ["retryable", "risky"],
        "checked did not run; the others ran once"
    );
    assert_eq!(status(&p, "step.checked"), "done");

    // Neither: apply refuses before doing anything, and says what to do.
    let p = Project::new().file("main.hcl", spec);
    interrupted(&p, &["step.risky"]);
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "the last apply was interrupted while step.risky was running, and it is not idempotent"
        ),
        "{err}"
    );
    assert!(
        err.contains("`cutover state resolve ADDR --done` or `--failed`"),
        "{err}"
    );
    assert!(!p.dir.join("ran.log").exists(), "nothing ran");
    assert_eq!(p.run(&["state", "resolve", "step.risky", "--done"]).0, 0);
    let (code, _, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0);
    assert!(
        !p.read("ran.log").contains("risky"),
        "resolved as done: not run again"
    );
}

#[test]
fn an_http_gate_compares_a_canary_against_its_baseline() {
    let server = crate::support::serve_once_per_request(
        r#"{"canary": {"errors": 0.03}, "baseline": {"errors": 0.02}}"#,
    );
    let spec = |limit: &str| {
        format!("gate \"http\" \"canary\" {{\n  url = \"{server}/metrics\"\n  json = {{ \"/canary/errors\" = {{ ratio_to = \"/baseline/errors\", at_most = {limit} }} }}\n  interval = \"100ms\"\n  timeout = \"400ms\"\n}}\n")
    };
    let (code, out, _) = Project::new()
        .file("main.hcl", &spec("1.5"))
        .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("held: HTTP 200, /canary/errors = 0.03 (1.5× /baseline/errors)"),
        "{out}"
    );
    let (code, out, _) = Project::new()
        .file("main.hcl", &spec("1.2"))
        .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not hold within 400ms; last measured: HTTP 200, /canary/errors = 0.03 (1.5× /baseline/errors)"), "{out}");
}

#[test]
fn a_gate_with_a_failure_limit_fails_after_that_many_misses_in_a_row() {
    // Healthy, healthy, then unhealthy from the third measurement on: the
    // misses are counted from there, and the gate fails long before its
    // timeout; the plan says so.
    let spec = "gate \"exec\" \"health\" {\n  shell = \"n=$(cat n 2>/dev/null || echo 0); echo $((n + 1)) > n; [ $n -lt 2 ]\"\n  for = \"1h\"\n  interval = \"50ms\"\n  timeout = \"1h\"\n  failure_limit = 3\n}\n";
    let p = Project::new().file("main.hcl", spec);
    let (code, out, _) = p.run(&["plan"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("failing after 1h or after 3 failed measurements in a row"),
        "{out}"
    );
    let (code, out, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   gate.health: did not hold in 3 measurements in a row (failure_limit); last measured: exit 1 (want 0)"),
        "{out}"
    );
    assert_eq!(
        p.read("n").trim(),
        "5",
        "2 healthy measurements, then 3 misses"
    );
}

#[test]
fn a_window_gate_holds_inside_its_window_and_waits_outside() {
    let now = chrono::Utc::now();
    let hhmm = |h: i64| {
        (now + chrono::Duration::hours(h))
            .format("%H:%M")
            .to_string()
    };
    let spec = |window: &str| {
        format!("gate \"window\" \"low_traffic\" {{\n  window = \"{window}\"\n  interval = \"100ms\"\n  timeout = \"300ms\"\n}}\n")
    };
    let open = format!("daily {}-{} UTC", hhmm(-1), hhmm(1));
    let (code, out, _) = Project::new()
        .file("main.hcl", &spec(&open))
        .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("held: inside {open}, closing ")),
        "{out}"
    );
    let closed = format!("daily {}-{} UTC", hhmm(2), hhmm(3));
    let (code, out, _) = Project::new()
        .file("main.hcl", &spec(&closed))
        .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "did not hold within 300ms; last measured: outside {closed}, opening "
        )),
        "{out}"
    );
}

#[test]
fn notify_blocks_post_the_migrations_events_to_webhooks() {
    let (all, got_all) = crate::support::webhook_receiver();
    let (some, got_some) = crate::support::webhook_receiver();
    let spec = format!("migration \"notified\" {{\n  notify {{\n    webhook = \"{all}\"\n  }}\n  notify {{\n    webhook_env = \"CUTOVER_TEST_HOOK\"\n    events = [\"failure\", \"finish\"]\n  }}\n}}\nstep \"exec\" \"a\" {{\n  shell = \"echo a > a.txt\"\n  rollback {{\n    shell = \"rm a.txt\"\n  }}\n}}\ngate \"exec\" \"healthy\" {{\n  command = [\"false\"]\n  interval = \"50ms\"\n  timeout = \"200ms\"\n  depends_on = [step.a]\n}}\n");
    let p = Project::new().file("main.hcl", &spec);
    // The second webhook's URL comes from the environment; unset, nothing starts.
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("notify: the environment variable CUTOVER_TEST_HOOK (webhook_env) is not set"),
        "{err}"
    );
    assert!(!p.dir.join("cutover.lock").exists() && !p.dir.join("a.txt").exists());
    let (code, out, err) = p.run_env(
        &[("CUTOVER_TEST_HOOK", some.as_str())],
        &["apply", "-auto-approve"],
    );
    assert_eq!(code, 1, "{out}{err}");
    let texts = |got: &std::sync::Mutex<Vec<String>>| -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .map(|b| {
                let v: serde_json::Value = serde_json::from_str(b).unwrap();
                assert_eq!(v["cutover"]["migration"], "notified");
                v["text"].as_str().unwrap().to_string()
            })
            .collect()
    };
    // Every post was made before apply returned.
    assert_eq!(
        texts(&got_all),
        [
            "[cutover] notified: started: 2 nodes in 2 waves",
            "[cutover] notified: wave 1 done",
            "[cutover] notified: gate.healthy failed: did not hold within 200ms; last measured: exit 1 (want 0)",
            "[cutover] notified: wave 2 done",
            "[cutover] notified: rolling back 1 node",
            "[cutover] notified: FAILED: Apply failed at gate.healthy; rolled back: 1 undone, 0 kept.",
        ]
    );
    assert_eq!(texts(&got_some).len(), 2, "{:?}", texts(&got_some));
    assert!(texts(&got_some)[1].starts_with("[cutover] notified: FAILED"));
}

#[test]
fn a_webhook_that_fails_is_a_warning_that_keeps_its_secret() {
    let p = Project::new().file(
        "main.hcl",
        "migration \"m\" {\n  notify {\n    webhook = \"http://127.0.0.1:1/services/T000/very-secret\"\n  }\n}\nstep \"wait\" \"w\" {\n  duration = \"0s\"\n}\n",
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning: notify: the webhook at 127.0.0.1 did not take the event:"),
        "{err}"
    );
    assert!(
        !err.contains("very-secret") && !out.contains("very-secret"),
        "{err}"
    );
}

#[test]
fn an_approval_gate_waits_for_cutover_approve_from_another_terminal() {
    let (hook, posted) = crate::support::webhook_receiver();
    let spec = format!("migration \"approved\" {{\n  notify {{\n    webhook = \"{hook}\"\n    events = [\"approval\"]\n  }}\n}}\n") + "step \"exec\" \"backup\" {\n  shell = \"echo backup > backup.txt\"\n}\ngate \"approval\" \"go_ahead\" {\n  message = \"Proceed to 50 %?\"\n  interval = \"100ms\"\n  timeout = \"60s\"\n  depends_on = [step.backup]\n}\nstep \"exec\" \"shift\" {\n  shell = \"echo 50 > traffic.txt\"\n  depends_on = [gate.go_ahead]\n}\n";
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, _) = p.run(&["plan"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("? gate.go_ahead  waits for `cutover approve gate.go_ahead`, every 100ms, failing after 60s"),
        "{out}"
    );
    // Nothing to approve while no apply runs.
    let (code, _, err) = p.run(&["approve", "gate.go_ahead"]);
    assert_eq!(code, 1);
    assert!(err.contains("nothing has been applied yet"), "{err}");
    let (code, _, err) = p.run(&["approve", "step.backup"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("step.backup is not an approval gate; this migration has gate.go_ahead"),
        "{err}"
    );

    let child = p.spawn(&["apply", "-auto-approve"]);
    crate::support::wait_started(&p, "gate.go_ahead");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!p.dir.join("traffic.txt").exists(), "waiting for a person");
    let (code, out, err) = p.run(&["approve", "gate.go_ahead", "--comment", "metrics look fine"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Approved gate.go_ahead as "), "{out}");
    assert!(out.contains("the apply by "), "{out}");
    let done = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&done.stdout);
    assert_eq!(done.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "waiting for approval (Proceed to 50 %?): run `cutover approve gate.go_ahead`"
        ),
        "{out}"
    );
    assert!(out.contains("held: approved by "), "{out}");
    assert!(out.contains(": metrics look fine"), "{out}");
    // Plain output says once that the gate waits, not at every poll.
    assert_eq!(out.matches("waiting for approval").count(), 1, "{out}");
    assert_eq!(p.read("traffic.txt"), "50\n");
    // The people who approve heard of it where they are.
    let posted = posted.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        posted[0].contains("[cutover] approved: gate.go_ahead waits for approval: run `cutover approve gate.go_ahead`"),
        "{posted:?}"
    );

    // After the apply, approving again is refused: none is running.
    let (code, _, err) = p.run(&["approve", "gate.go_ahead"]);
    assert_eq!(code, 1);
    assert!(err.contains("no apply is running"), "{err}");
}

#[test]
fn an_approval_given_to_an_earlier_apply_does_not_count() {
    let spec = "gate \"approval\" \"go\" {\n  interval = \"100ms\"\n  timeout = \"{T}\"\n}\n";
    let p = Project::new().file("main.hcl", &spec.replace("{T}", "60s"));
    let child = p.spawn(&["apply", "-auto-approve"]);
    crate::support::wait_started(&p, "gate.go");
    assert_eq!(p.run(&["approve", "gate.go"]).0, 0);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    // The same gate again (rolled back, applied anew): the old approval is not enough.
    assert_eq!(p.run(&["rollback", "-auto-approve"]).0, 0);
    let p = p.file("main.hcl", &spec.replace("{T}", "500ms"));
    let (code, out, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   gate.go: did not hold within 500ms; last measured: waiting for approval: run `cutover approve gate.go`"),
        "{out}"
    );
}

#[test]
fn after_a_rollback_the_next_apply_records_the_object_as_it_is_then() {
    // The first apply created the file; rollback removed it; then someone
    // wrote it by hand. The next apply must record that content as the
    // state to restore, not the first run's "did not exist" (which would
    // delete the hand-written file on the next rollback).
    let p = Project::new().file(
        "main.hcl",
        "resource \"local_file\" \"config\" {\n  path = \"config.txt\"\n  content = \"new\\n\"\n}\n",
    );
    assert_eq!(p.run(&["apply", "-auto-approve"]).0, 0);
    assert_eq!(p.run(&["rollback", "-auto-approve"]).0, 0);
    assert!(!p.dir.join("config.txt").exists());
    std::fs::write(p.dir.join("config.txt"), "written by hand\n").unwrap();
    let (code, out, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(p.read("config.txt"), "new\n");
    let (code, out, _) = p.run(&["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(p.read("config.txt"), "written by hand\n", "{out}");
}

/// Runs the binary on a pseudo-terminal (as an operator would), typing each
/// answer once its prompt has appeared, in order; returns (exit code,
/// everything printed).
fn on_a_terminal(p: &Project, args: &[&str], answers: &[(&str, &str)]) -> (i32, String) {
    let driver = r#"
import json, os, pty, select, sys, time
binary, answers, args = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["CUTOVER_NO_LIVE"] = "1"
    os.execv(binary, [binary] + args)
out, seen, deadline = b"", 0, time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if answers:
        prompt, answer = answers[0]
        at = out.find(prompt.encode(), seen)
        if at >= 0:
            seen = at + len(prompt)
            os.write(fd, answer.encode() + b"\n")
            answers.pop(0)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let bin = assert_cmd::cargo::cargo_bin("cutover");
    let mut cmd = std::process::Command::new("python3");
    cmd.current_dir(&p.dir)
        .args([
            "-c",
            driver,
            bin.to_str().unwrap(),
            &serde_json::to_string(answers).unwrap(),
        ])
        .args(args);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
    )
}

#[test]
fn an_approval_gate_can_be_answered_at_applys_own_terminal() {
    let p = Project::new().file(
        "main.hcl",
        "gate \"approval\" \"go\" {\n  message = \"Proceed?\"\n  interval = \"100ms\"\n  timeout = \"60s\"\n}\nstep \"exec\" \"after\" {\n  shell = \"echo go > after.txt\"\n  depends_on = [gate.go]\n}\n",
    );
    let (code, out) = on_a_terminal(
        &p,
        &["apply", "-auto-approve", "-no-color"],
        &[("type yes and Enter here", "yes")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("notice   gate.go waits for approval: type yes and Enter here, or run `cutover approve gate.go` from any terminal"),
        "{out}"
    );
    assert!(out.contains("held: approved by "), "{out}");
    assert!(out.contains(" at the apply's terminal"), "{out}");
    assert_eq!(p.read("after.txt"), "go\n");
}

#[test]
fn at_the_terminal_the_plan_a_point_of_no_return_and_an_approval_each_get_their_answer() {
    // One reader of the terminal: each line goes to what waits for it.
    let p = Project::new().file(
        "main.hcl",
        "gate \"approval\" \"go\" {\n  interval = \"100ms\"\n  timeout = \"60s\"\n}\nstep \"exec\" \"email\" {\n  shell = \"echo sent > sent.txt\"\n  irreversible = true\n  depends_on = [gate.go]\n}\n",
    );
    let (code, out) = on_a_terminal(
        &p,
        &["apply", "-no-color"],
        &[
            ("Do you want to apply this plan?", "yes"),
            ("type yes and Enter here", "yes"),
            ("is a point of no return", "yes"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("held: approved by "), "{out}");
    assert_eq!(p.read("sent.txt"), "sent\n");
}

#[test]
fn the_point_of_no_return_question_shows_what_will_run() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"drop\" {\n  shell = <<EOT\necho dropping\necho dropped > dropped.txt\nEOT\n  irreversible = true\n}\n",
    );
    let (code, out) = on_a_terminal(
        &p,
        &["apply", "-no-color"],
        &[
            ("Do you want to apply this plan?", "yes"),
            // The pty writes the prompt's newline as CR LF.
            ("Run it now?\r\n  Only 'yes' will be accepted: ", "yes"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("step.drop is a point of no return: once it has run it cannot be undone. It runs:\n    shell = <<EOT\n        echo dropping\n        echo dropped > dropped.txt\n    EOT\nRun it now?\n"),
        "{out}"
    );
    assert_eq!(p.read("dropped.txt"), "dropped\n");
}

#[test]
fn a_resource_left_started_that_already_matches_is_recorded_done() {
    // Killed between writing the file and journaling it: the next apply
    // finds the object as desired and records the change as done.
    let p = Project::new()
        .file("main.hcl", "migration \"resume\" {}\nresource \"local_file\" \"mark\" {\n  path    = \"mark.txt\"\n  content = \"m\"\n}\n")
        .file("mark.txt", "m");
    let (_, out, _) = p.run(&["plan", "--format", "json"]);
    let plan: Value = serde_json::from_str(&out).unwrap();
    let digest = &plan["nodes"][0]["digest"];
    let lock = serde_json::json!({ "format_version": 1, "migration": "resume", "lineage": plan["lineage"], "serial": 1, "spec_digest": "x", "nodes": { "local_file.mark": { "status": "started", "digest": digest, "kind": "resource", "type_name": "local_file", "identity": { "path": "mark.txt" }, "prior": null, "started_at": "2026-11-25T10:00:00Z" } } });
    std::fs::write(
        p.dir.join("cutover.lock"),
        serde_json::to_string_pretty(&lock).unwrap(),
    )
    .unwrap();
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(status(&p, "local_file.mark"), "done");
    let (_, out, _) = p.run(&["plan"]);
    assert!(
        out.ends_with("Plan: No changes. 0 done, 1 unchanged.\n"),
        "{out}"
    );
}

/// `timestamp()` changes at each evaluation: a saved plan using it is stale
/// by the time it is applied, an apply without one runs, and the next plan
/// says the step changed since it ran (not re-run).
#[test]
fn a_step_using_timestamp_runs_but_cannot_be_applied_from_a_saved_plan() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"stamp\" {\n  shell = \"echo ${timestamp()} > stamp.txt\"\n}\n",
    );
    assert_eq!(p.run(&["plan", "-out", "a.plan"]).0, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, _, err) = p.run(&["apply", "a.plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the saved plan a.plan is stale, so nothing was applied")
            && err.contains("step.stamp evaluates differently"),
        "{err}"
    );
    assert!(!p.dir.join("stamp.txt").exists());
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(p.read("stamp.txt").trim_end().ends_with('Z'));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, out, _) = p.run(&["plan"]);
    assert_eq!(code, 0);
    assert!(out.contains("! step.stamp"), "{out}");
}
