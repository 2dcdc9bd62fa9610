//! Interrupts end promptly: gates and waits are abandoned at once, steps get
//! `--stop-timeout` and are then cancelled — SQL on the server, processes by
//! process group — and a cancelled step resumes like one found running after
//! a crash.

use crate::postgres::{fresh_db, psql};
use crate::support::{serve, wait_started, Project};
use std::process::Command;
use std::time::{Duration, Instant};

fn signal(name: &str, pid: u32) {
    Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
}

fn status(p: &Project, address: &str) -> String {
    let (_, out, _) = p.run(&["state", "list"]);
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(address))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("absent")
        .to_string()
}

#[test]
fn one_sigterm_while_a_gate_polls_ends_the_apply_at_once() {
    let url = serve(|_| (503, "{}".into()));
    let spec = format!(
        "step \"exec\" \"first\" {{\n  shell = \"true\"\n}}\n\ngate \"http\" \"healthy\" {{\n  url        = \"{url}/health\"\n  interval   = \"100ms\"\n  depends_on = [step.first]\n}}\n\nstep \"exec\" \"after\" {{\n  shell      = \"echo after >> ran.log\"\n  depends_on = [gate.healthy]\n}}\n"
    );
    let p = Project::new().file("main.hcl", &spec);
    let child = p.spawn(&["apply", "-auto-approve"]);
    wait_started(&p, "gate.healthy");
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal("TERM", child.id());
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(took < Duration::from_secs(2), "took {took:?}: {stdout}");
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("  stopped  gate.healthy: abandoned by the interrupt; checked again on resume\nInterrupted: starting nothing new.\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Apply interrupted: what finished is recorded; apply again to resume.\n"),
        "{stdout}"
    );
    assert_eq!(status(&p, "step.first"), "done");
    assert_eq!(
        status(&p, "gate.healthy"),
        "pending",
        "not started: checked again"
    );
    assert!(!p.dir.join("ran.log").exists());
    let (_, plan, _) = p.run(&["plan"]);
    assert!(plan.contains("? gate.healthy"), "{plan}");
}

#[test]
fn a_cancelled_sql_step_is_cancelled_on_the_server_and_resumes_safely() {
    let db = fresh_db("cancel");
    let spec = r#"
migration "cancel" {}

variable "db" {
  type      = string
  sensitive = true
}

variable "seconds" {
  type    = number
  default = 60
}

step "sql" "slow" {
  database = var.db
  sql      = "CREATE TABLE marks (id int); SELECT pg_sleep(${var.seconds}); INSERT INTO marks VALUES (1)"
}
"#;
    let p = Project::new().file("main.hcl", spec);
    let var = format!("db={db}");
    let child = p.spawn(&[
        "apply",
        "-auto-approve",
        "--stop-timeout",
        "500ms",
        "-var",
        &var,
    ]);
    wait_started(&p, "step.slow");
    let activity = |db: &str| {
        psql(
            db,
            "SELECT coalesce(string_agg(application_name, ','), '') FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while activity(&db).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        activity(&db),
        "cutover:cancel:step.slow",
        "the session names its node"
    );
    signal("INT", child.id());
    let out = child.wait_with_output().unwrap();
    let cancelled = Instant::now();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("  stopped  step.slow: cancelled: the stop timeout after the interrupt passed; apply resumes it as a step found running after a crash"),
        "{stdout}"
    );
    // Cancelled on the server: gone long before the 60 s sleep would end (10 s allows for a loaded machine).
    while !activity(&db).is_empty() && cancelled.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(activity(&db), "", "the query is gone from the server");
    assert_eq!(status(&p, "step.slow"), "interrupted");
    assert_eq!(
        psql(&db, "SELECT to_regclass('marks') IS NULL"),
        "t",
        "its transaction rolled back"
    );
    // The step did not commit: the next apply knows it and runs it again.
    let (_, plan, _) = p.run(&["plan", "-var", &var, "-var", "seconds=0"]);
    assert!(
        plan.contains("> step.slow  interrupted, and its work did not commit; will run again"),
        "{plan}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var, "-var", "seconds=0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(psql(&db, "SELECT count(*) FROM marks"), "1");
}

#[test]
fn a_step_cancelled_part_way_is_not_run_again_blindly() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"migrate\" {\n  shell = \"echo begin >> ran.log; sleep 10; echo end >> ran.log\"\n}\n",
    );
    let child = p.spawn(&["apply", "-auto-approve", "--stop-timeout", "200ms"]);
    wait_started(&p, "step.migrate");
    std::thread::sleep(Duration::from_millis(200));
    signal("TERM", child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(status(&p, "step.migrate"), "interrupted");
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("the last apply was interrupted while step.migrate was running, and it is not idempotent"),
        "{err}"
    );
    assert_eq!(
        p.read("ran.log"),
        "begin\n",
        "the process group got SIGTERM: nothing ran on"
    );
}
