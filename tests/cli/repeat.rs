//! `repeat {}`: steps that run in batches until done, with progress, and
//! that resume mid-loop after kill -9 or an interrupt. Against a real
//! PostgreSQL server (scripts/test.sh).

use crate::postgres::{fresh_db, psql};
use crate::support::{wait_started, Project};
use std::process::Command;
use std::time::{Duration, Instant};

/// 20,000 users whose `email_address` is to be filled from `email`, 1,000 at a time.
fn users(rows: u32) -> String {
    let db = fresh_db("repeat");
    psql(
        &db,
        &format!(
            "CREATE TABLE users (id int PRIMARY KEY, email text, email_address text, touched int NOT NULL DEFAULT 0); \
             INSERT INTO users (id, email) SELECT g, 'u' || g || '@example.com' FROM generate_series(1, {rows}) g"
        ),
    );
    db
}

fn spec(pause: &str, extra: &str) -> String {
    format!(
        r#"
migration "backfill" {{}}

variable "db" {{
  type      = string
  sensitive = true
}}

step "sql" "backfill" {{
  database = var.db
  sql      = "UPDATE users SET email_address = email, touched = touched + 1 WHERE id IN (SELECT id FROM users WHERE email_address IS NULL ORDER BY id LIMIT 1000)"
  repeat {{
    until     = "SELECT count(*) = 0 FROM users WHERE email_address IS NULL"
    remaining = "SELECT count(*) FROM users WHERE email_address IS NULL"
    pause     = "{pause}"
{extra}  }}
}}
"#
    )
}

/// Every user's `email_address` is filled, and no row was updated twice.
fn assert_filled_once(db: &str) {
    assert_eq!(
        psql(db, "SELECT count(*) FROM users WHERE email_address IS NULL"),
        "0"
    );
    assert_eq!(
        psql(db, "SELECT max(touched) FROM users"),
        "1",
        "no row twice"
    );
}

fn lockfile(p: &Project) -> serde_json::Value {
    serde_json::from_str(&p.read("cutover.lock")).unwrap()
}

#[test]
fn a_backfill_runs_in_batches_with_progress_until_done() {
    let db = users(20_000);
    let p = Project::new().file("main.hcl", &spec("0ms", ""));
    let var = format!("db={db}");
    let (_, plan, _) = p.run(&["plan", "-var", &var]);
    assert!(
        plan.contains(
            "> step.backfill  not yet run; repeats in batches until done; 20000 remaining now"
        ),
        "{plan}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve", "--json", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    let progress: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "step_progress")
        .collect();
    assert_eq!(progress.len(), 20, "one progress event per iteration");
    for (i, e) in progress.iter().enumerate() {
        assert_eq!(e["address"], "step.backfill");
        assert_eq!(e["iteration"], i as u64 + 1);
        assert_eq!(e["rows_affected"], 1000);
        assert_eq!(e["total_rows"], (i as u64 + 1) * 1000);
        assert_eq!(e["remaining"], 20_000.0 - (i as f64 + 1.0) * 1000.0);
        assert!(e["rows_per_s"].as_f64().unwrap() > 0.0);
    }
    assert!(
        out.contains("\"detail\":\"20 iterations, 20000 rows\""),
        "{out}"
    );
    assert_filled_once(&db);
    let doc = lockfile(&p);
    assert_eq!(doc["nodes"]["step.backfill"]["outputs"]["iterations"], 20);
    assert_eq!(
        doc["nodes"]["step.backfill"]["outputs"]["rows_affected"],
        20_000
    );

    // Plain output: a line for the first iteration, then every tenth.
    let db = users(3_000);
    let p = Project::new().file("main.hcl", &spec("0ms", ""));
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &format!("db={db}")]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("progress step.backfill"))
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].starts_with("  progress step.backfill: iteration 1, 1000 rows ("),
        "{out}"
    );
    assert!(lines[0].contains(" rows/s, "), "{out}");
    assert!(lines[0].contains("2000 remaining, about "), "{out}");
    assert!(out.contains("  done     step.backfill in "), "{out}");
    assert!(out.contains(": 3 iterations, 3000 rows\n"), "{out}");
}

#[test]
fn a_loop_killed_mid_way_resumes_where_it_stopped() {
    let db = users(20_000);
    let p = Project::new().file("main.hcl", &spec("100ms", ""));
    let var = format!("db={db}");
    let mut child = p.spawn(&["apply", "-auto-approve", "-var", &var]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while psql(
        &db,
        "SELECT count(*) FROM users WHERE email_address IS NOT NULL",
    )
    .parse::<u32>()
    .unwrap()
        < 12_000
    {
        assert!(Instant::now() < deadline, "the loop never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let (_, shown, _) = p.run(&["state", "show", "step.backfill"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let before = shown["progress"]["iterations"].as_u64().unwrap_or(0);
    let (_, plan, _) = p.run(&["plan", "-var", &var]);
    assert!(
        plan.contains("the loop resumes where it stopped, as `until` decides"),
        "{plan}"
    );
    let left: u64 = psql(
        &db,
        "SELECT count(*) FROM users WHERE email_address IS NULL",
    )
    .parse()
    .unwrap();
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    assert_filled_once(&db);
    let after = lockfile(&p)["nodes"]["step.backfill"]["outputs"]["iterations"]
        .as_u64()
        .unwrap();
    // Counts are journaled in group commits (about once a second), so the
    // last few before the kill may be missing; the loop's work is not.
    assert!(before >= 1, "the journal kept the iterations: {before}");
    assert_eq!(
        after,
        before + left / 1000,
        "the count carried on from {before}: {out}"
    );
}

#[test]
fn an_interrupt_stops_a_loop_between_iterations() {
    let db = users(20_000);
    let p = Project::new().file("main.hcl", &spec("200ms", ""));
    let var = format!("db={db}");
    let child = p.spawn(&["apply", "-auto-approve", "-var", &var]);
    wait_started(&p, "step.backfill");
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("  stopped  step.backfill: stopped between iterations by the interrupt; the loop resumes where it stopped"),
        "{stdout}"
    );
    let left: u32 = psql(
        &db,
        "SELECT count(*) FROM users WHERE email_address IS NULL",
    )
    .parse()
    .unwrap();
    assert!(
        left > 0 && left.is_multiple_of(1000),
        "whole batches only: {left}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    assert_filled_once(&db);
}

#[test]
fn a_loop_that_cannot_end_fails_and_says_why() {
    // The statement never touches the rows `until` counts.
    let db = users(2_000);
    let stuck = spec("0ms", "").replace("WHERE email_address IS NULL ORDER BY id", "WHERE false");
    let p = Project::new().file("main.hcl", &stuck);
    let (code, out, _) = p.run(&["apply", "-auto-approve", "-var", &format!("db={db}")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   step.backfill: iteration 1 changed no rows, but `until` does not hold: the loop would never end."),
        "{out}"
    );
    // max_iterations: the safety net.
    let p = Project::new().file("main.hcl", &spec("0ms", "    max_iterations = 1\n"));
    let (code, out, _) = p.run(&["apply", "-auto-approve", "-var", &format!("db={db}")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   step.backfill: did not finish within max_iterations = 1 (1 iteration, 1000 rows)"),
        "{out}"
    );
    // An iteration's own count may end the loop.
    let db = users(2_500);
    let own = spec("0ms", "").replace(
        "    until     = \"SELECT count(*) = 0 FROM users WHERE email_address IS NULL\"\n",
        "    until_rows_affected = 0\n",
    );
    let p = Project::new().file("main.hcl", &own);
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &format!("db={db}")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": 4 iterations, 2500 rows\n"), "{out}");
}

#[test]
fn an_exec_step_repeats_until_its_command_says_done() {
    let p = Project::new().file(
        "main.hcl",
        r#"
step "exec" "batches" {
  shell = "echo batch >> batches.log"
  repeat {
    until     = "test -f batches.log && test $(wc -l < batches.log) -ge 3"
    remaining = "echo $((3 - $(cat batches.log 2>/dev/null | wc -l)))"
  }
}
"#,
    );
    let (_, plan, _) = p.run(&["plan"]);
    assert!(
        plan.contains(
            "> step.batches  not yet run; repeats in batches until done; 3 remaining now"
        ),
        "{plan}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(p.read("batches.log"), "batch\nbatch\nbatch\n");
    assert!(
        out.contains("  progress step.batches: iteration 1, 0 rows ("),
        "{out}"
    );
    assert!(out.contains(": 3 iterations, 0 rows\n"), "{out}");
}

#[test]
fn a_throttle_pauses_the_loop_until_it_holds() {
    let db = users(3_000);
    psql(
        &db,
        "CREATE TABLE valve (open bool); INSERT INTO valve VALUES (false)",
    );
    let throttle = "    throttle \"sql\" {\n      database = var.db\n      query    = \"SELECT open FROM valve\"\n      interval = \"100ms\"\n      max_wait = \"30s\"\n    }\n";
    let p = Project::new().file("main.hcl", &spec("0ms", throttle));
    let var = format!("db={db}");
    let child = p.spawn(&["apply", "-auto-approve", "-var", &var]);
    wait_started(&p, "step.backfill");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        psql(
            &db,
            "SELECT count(*) FROM users WHERE email_address IS NOT NULL"
        ),
        "0",
        "the loop waits while the throttle does not hold"
    );
    psql(&db, "UPDATE valve SET open = true");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("  throttle step.backfill: paused by its throttle \"sql\" for "),
        "{stdout}"
    );
    assert!(stdout.contains("(at most 30s): value f"), "{stdout}");
    assert_eq!(
        psql(
            &db,
            "SELECT count(*) FROM users WHERE email_address IS NULL"
        ),
        "0"
    );

    // One that never opens fails the step after max_wait.
    psql(
        &db,
        "UPDATE valve SET open = false; UPDATE users SET email_address = NULL",
    );
    let shut = throttle.replace("30s", "300ms");
    std::fs::write(p.dir.join("main.hcl"), spec("0ms", &shut)).unwrap();
    let (code, out, _) = p.run(&[
        "apply",
        "-auto-approve",
        "-var",
        &var,
        "-replace",
        "step.backfill",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   step.backfill: its throttle \"sql\" did not hold within max_wait = 300ms; last measured: value f"),
        "{out}"
    );
}

#[test]
fn a_data_step_shows_its_dry_run_in_the_plan_and_changes_nothing() {
    let db = users(2_500);
    let var = format!("db={db}");
    let counted = spec("0ms", "").replace(
        "  repeat {",
        "  dry_run  = \"SELECT count(*) FROM users WHERE email_address IS NULL\"\n  repeat {",
    );
    let p = Project::new().file("main.hcl", &counted);
    let (code, plan, err) = p.run(&["plan", "-var", &var]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains("> step.backfill  not yet run; repeats in batches until done; 2500 remaining now; dry run: 2500\n"),
        "{plan}"
    );
    let rolled = spec("0ms", "").replace("  repeat {", "  dry_run  = \"rollback\"\n  repeat {");
    std::fs::write(p.dir.join("main.hcl"), rolled).unwrap();
    let (code, plan, err) = p.run(&["plan", "-var", &var]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains(
            "; dry run: it would change 1000 rows (run in a transaction that was rolled back)\n"
        ),
        "{plan}"
    );
    assert_eq!(
        psql(
            &db,
            "SELECT count(*) FROM users WHERE email_address IS NULL"
        ),
        "2500",
        "the dry run changed nothing"
    );
}
