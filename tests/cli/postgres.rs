//! The postgres provider against a real PostgreSQL server (started by
//! scripts/test.sh; its URL in CUTOVER_TEST_PG).

use crate::support::{wait_started, Project};
use std::process::Command;
use std::time::Duration;

fn server() -> String {
    std::env::var("CUTOVER_TEST_PG").expect(
        "CUTOVER_TEST_PG is not set: run the tests with ./scripts/test.sh, which starts PostgreSQL",
    )
}

/// Runs SQL with psql; returns its unaligned output.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            url,
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A fresh, empty database; its URL. Its name is unique in this process (a
/// counter) and across processes (the pid, and the time for a reused pid).
pub fn fresh_db(hint: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let base = server();
    let name = format!(
        "t_{hint}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000_000
    );
    psql(&base, &format!("CREATE DATABASE {name}"));
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

fn apply(p: &Project, db: &str) -> (i32, String, String) {
    p.run(&["apply", "-auto-approve", "-var", &format!("db={db}")])
}

const DB_VAR: &str = "variable \"db\" {\n  type      = string\n  sensitive = true\n}\n";

#[test]
fn a_sql_step_commits_or_rolls_back_as_a_whole_and_shows_its_changes() {
    let db = fresh_db("tx");
    let spec = format!("{DB_VAR}step \"sql\" \"schema\" {{\n  database = var.db\n  file     = \"migrations/0001.sql\"\n}}\n");
    let p = Project::new()
        .file("main.hcl", &spec)
        .file("migrations/0001.sql", "CREATE TABLE atoms (id int PRIMARY KEY, name text);\nINSERT INTO atoms VALUES (1, 'a');\nINSERT INTO atomz VALUES (2, 'b');\n");
    let (code, out, _) = apply(&p, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ERROR 42P01: relation \"atomz\" does not exist (at line 3, column 13 of migrations/0001.sql); the transaction was rolled back"),
        "{out}"
    );
    assert_eq!(
        psql(&db, "SELECT to_regclass('atoms') IS NULL"),
        "t",
        "nothing of the failed step remains"
    );
    std::fs::write(p.dir.join("migrations/0001.sql"), "CREATE TABLE atoms (id int PRIMARY KEY, name text);\nINSERT INTO atoms VALUES (1, 'a'), (2, 'b');\n").unwrap();
    let (code, out, err) = apply(&p, &db);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(psql(&db, "SELECT count(*) FROM atoms"), "2");
    let (_, out, _) = p.run(&["plan", "-var", &format!("db={db}")]);
    assert!(out.contains("✓ step.schema"), "{out}");
    // The file changed since it ran: `!`, with the SQL as a diff.
    std::fs::write(p.dir.join("migrations/0001.sql"), "CREATE TABLE atoms (id int PRIMARY KEY, name text);\nINSERT INTO atoms VALUES (1, 'a'), (2, 'b'), (3, 'c');\n").unwrap();
    let (_, out, _) = p.run(&["plan", "-var", &format!("db={db}")]);
    assert!(
        out.contains("! step.schema  its definition changed since it was applied"),
        "{out}"
    );
    assert!(
        out.contains("-INSERT INTO atoms VALUES (1, 'a'), (2, 'b');"),
        "{out}"
    );
    assert!(
        out.contains("+INSERT INTO atoms VALUES (1, 'a'), (2, 'b'), (3, 'c');"),
        "{out}"
    );
    assert!(!out.contains(&db), "the database URL is sensitive: {out}");
}

#[test]
fn non_transactional_statements_done_when_and_sql_rollback() {
    let db = fresh_db("ntx");
    psql(
        &db,
        "CREATE TABLE items (id int); INSERT INTO items SELECT generate_series(1, 100)",
    );
    let spec = format!(
        r#"{DB_VAR}
step "sql" "index" {{
  database    = var.db
  sql         = "CREATE INDEX CONCURRENTLY items_id ON items (id)"
  transaction = false
  done_when   = "SELECT to_regclass('items_id') IS NOT NULL"
  rollback {{
    sql         = "DROP INDEX CONCURRENTLY items_id"
    transaction = false
  }}
}}
step "sql" "fail" {{
  database          = var.db
  sql               = "SELECT pg_sleep(5)"
  statement_timeout = "200ms"
  depends_on        = [step.index]
}}
"#
    );
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, _) = apply(&p, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ERROR 57014: canceling statement due to statement timeout"),
        "{out}"
    );
    assert!(
        out.contains("undone   step.index: ran its rollback block"),
        "{out}"
    );
    assert_eq!(psql(&db, "SELECT to_regclass('items_id') IS NULL"), "t");
    // Created by hand: done_when says the step is done.
    psql(&db, "CREATE INDEX items_id ON items (id)");
    let p = Project::new().file(
        "main.hcl",
        &spec.replace(
            "depends_on        = [step.index]",
            "depends_on        = [step.index]\n  done_when         = \"SELECT true\"",
        ),
    );
    let (_, out, _) = p.run(&["plan", "-var", &format!("db={db}")]);
    assert!(
        out.contains("✓ step.index  done_when holds (done_when returned true)"),
        "{out}"
    );
}

#[test]
fn sql_gates_check_expectations_and_report_what_they_measured() {
    let db = fresh_db("gate");
    psql(&db, "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)");
    let spec = format!(
        r#"{DB_VAR}
gate "sql" "count" {{
  database = var.db
  query    = "SELECT count(*) FROM t"
  expect   = 2
  interval = "50ms"
}}
gate "sql" "rows" {{
  database    = var.db
  query       = "SELECT n FROM t"
  expect_rows = 2
  interval    = "50ms"
}}
gate "sql" "orphans" {{
  database     = var.db
  query        = "SELECT n FROM t WHERE n > 10"
  expect_empty = true
  interval     = "50ms"
}}
gate "sql" "small" {{
  database = var.db
  query    = "SELECT max(n) FROM t"
  below    = 5
  interval = "50ms"
}}
gate "sql" "three" {{
  database   = var.db
  query      = "SELECT count(*) FROM t"
  expect     = 3
  interval   = "100ms"
  timeout    = "500ms"
  depends_on = [gate.count, gate.rows, gate.orphans, gate.small]
}}
"#
    );
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, _) = apply(&p, &db);
    assert_eq!(code, 1, "{out}");
    for g in ["count", "rows", "orphans", "small"] {
        assert!(out.contains(&format!("done     gate.{g}")), "{g}: {out}");
    }
    assert!(
        out.contains("polled   gate.three: not yet: value 2 (want 3)"),
        "{out}"
    );
    assert!(
        out.contains(
            "FAILED   gate.three: did not hold within 500ms; last measured: value 2 (want 3)"
        ),
        "{out}"
    );
}

#[test]
fn a_verified_backup_restores_the_database_when_a_later_gate_fails() {
    let db = fresh_db("backup");
    psql(&db, "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric); INSERT INTO accounts SELECT g, 'owner ' || g, g * 10 FROM generate_series(1, 50) g");
    let before = psql(
        &db,
        "SELECT string_agg(id || ':' || owner || ':' || balance, ',' ORDER BY id) FROM accounts",
    );
    let spec = format!(
        r#"{DB_VAR}
step "pg_dump" "backup" {{
  database = var.db
  path     = "backups/pre.dump"
  verify   = true
  rollback {{
    restore = true
  }}
}}
step "sql" "migrate" {{
  database = var.db
  sql      = "ALTER TABLE accounts DROP COLUMN owner; UPDATE accounts SET balance = 0"
  depends_on = [step.backup]
}}
gate "sql" "balances_kept" {{
  database   = var.db
  query      = "SELECT sum(balance) FROM accounts"
  above      = 0
  interval   = "100ms"
  timeout    = "300ms"
  depends_on = [step.migrate]
}}
output "backup" {{
  value = step.backup.sha256
}}
"#
    );
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, _) = apply(&p, &db);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("done     step.backup"), "{out}");
    assert!(
        out.contains("undone   step.backup: ran its rollback block"),
        "{out}"
    );
    let after = psql(
        &db,
        "SELECT string_agg(id || ':' || owner || ':' || balance, ',' ORDER BY id) FROM accounts",
    );
    assert_eq!(
        after, before,
        "the restore brought back every row and column"
    );
    let lock: serde_json::Value = serde_json::from_str(&p.read("cutover.lock")).unwrap();
    let outputs = &lock["nodes"]["step.backup"]["outputs"];
    assert_eq!(outputs["verified"], true);
    assert!(outputs["entries"].as_u64().unwrap() >= 2, "{outputs}");
    assert_eq!(
        outputs["size"].as_u64().unwrap(),
        std::fs::metadata(p.dir.join("backups/pre.dump"))
            .unwrap()
            .len()
    );
    assert_eq!(outputs["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_corrupt_archive_fails_verification_before_anything_depends_on_it() {
    let db = fresh_db("verify");
    psql(&db, "CREATE TABLE t (n int)");
    // `pg_dump` is replaced by a script that writes garbage: verification must catch it.
    let p = Project::new()
        .file("bin/pg_dump", "#!/bin/sh\nfor a in \"$@\"; do case $a in --file=*) echo garbage > \"${a#--file=}\";; esac; done\n")
        .file(
            "main.hcl",
            &format!("{DB_VAR}step \"pg_dump\" \"backup\" {{\n  database = var.db\n  path = \"b.dump\"\n  verify = true\n}}\nstep \"exec\" \"after\" {{\n  shell = \"touch after-ran\"\n  depends_on = [step.backup]\n}}\n"),
        );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        p.dir.join("bin/pg_dump"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        p.dir.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = p
        .cmd()
        .env("PATH", path)
        .args(["apply", "-auto-approve", "-var", &format!("db={db}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("verification failed: pg_restore --list b.dump"),
        "{stdout}"
    );
    assert!(
        !p.dir.join("after-ran").exists(),
        "nothing that depends on the backup started"
    );
}

#[test]
fn row_counts_agree_between_sqlite_and_postgres() {
    let db = fresh_db("parity");
    let p = Project::new();
    let lite = rusqlite::Connection::open(p.dir.join("legacy.db")).unwrap();
    lite.execute_batch("CREATE TABLE users (id INTEGER); INSERT INTO users VALUES (1), (2), (3); CREATE TABLE orders (id INTEGER); INSERT INTO orders VALUES (1), (2);").unwrap();
    psql(&db, "CREATE TABLE users (id int); INSERT INTO users VALUES (1), (2), (3); CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)");
    let p = p.file(
        "main.hcl",
        &format!("{DB_VAR}gate \"row_parity\" \"copied\" {{\n  source = \"sqlite:legacy.db\"\n  target = var.db\n  tables = [\"users\", \"orders\"]\n  interval = \"100ms\"\n  timeout = \"400ms\"\n}}\n"),
    );
    let (code, out, _) = apply(&p, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("last measured: users 3 = 3, orders 2 ≠ 1"),
        "{out}"
    );
    psql(&db, "INSERT INTO orders VALUES (2)");
    let (code, out, _) = apply(&p, &db);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("held: users 3 = 3, orders 2 = 2"), "{out}");
}

#[test]
fn an_unreachable_server_is_a_clear_error_that_never_shows_the_password() {
    let url = "postgres://app:hunter2@127.0.0.1:1/orders";
    let p = Project::new().file(
        "main.hcl",
        &format!("{DB_VAR}step \"sql\" \"s\" {{\n  database = var.db\n  sql = \"SELECT 1\"\n}}\n"),
    );
    let (code, out, err) = apply(&p, url);
    assert_eq!(code, 1);
    assert!(
        out.contains("cannot connect to PostgreSQL at 127.0.0.1:1/orders"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2")
            && !err.contains("hunter2")
            && !p.read("cutover.lock").contains("hunter2")
    );
}

#[test]
fn a_killed_sql_step_reruns_if_its_transaction_did_not_commit_and_otherwise_asks() {
    for transactional in [true, false] {
        let db = fresh_db("kill");
        let spec = format!(
            "{DB_VAR}step \"sql\" \"slow\" {{\n  database = var.db\n  sql = \"SELECT pg_sleep(2); CREATE TABLE made (n int); INSERT INTO made VALUES (1)\"\n  transaction = {transactional}\n}}\n"
        );
        let p = Project::new().file("main.hcl", &spec);
        let child = p.spawn(&["apply", "-auto-approve", "-var", &format!("db={db}")]);
        wait_started(&p, "step.slow");
        std::thread::sleep(Duration::from_millis(300));
        Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap();
        let _ = child.wait_with_output();
        // The server notices the dead connection and ends its statement.
        psql(&db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
        let (code, out, err) = apply(&p, &db);
        if transactional {
            assert_eq!(code, 0, "{out}{err}");
            assert!(
                out.contains("interrupted, and its work did not commit; will run again"),
                "{out}"
            );
            assert_eq!(psql(&db, "SELECT count(*) FROM made"), "1");
        } else {
            assert_eq!(code, 1);
            assert!(
                err.contains("the last apply was interrupted while step.slow was running"),
                "{err}"
            );
        }
    }
}

#[test]
fn a_committed_sql_step_found_started_is_not_run_again() {
    let db = fresh_db("committed");
    let spec = format!("{DB_VAR}step \"sql\" \"insert\" {{\n  database = var.db\n  sql = \"CREATE TABLE IF NOT EXISTS n (v int); INSERT INTO n VALUES (1)\"\n}}\n");
    let p = Project::new().file("main.hcl", &spec);
    assert_eq!(apply(&p, &db).0, 0);
    // As if apply died after COMMIT but before recording `done`.
    let lock = p
        .read("cutover.lock")
        .replace("\"status\": \"done\"", "\"status\": \"started\"");
    std::fs::write(p.dir.join("cutover.lock"), lock).unwrap();
    let (_, out, _) = p.run(&["plan", "-var", &format!("db={db}")]);
    assert!(
        out.contains("✓ step.insert  interrupted, but its work committed; recorded as done"),
        "{out}"
    );
    assert_eq!(apply(&p, &db).0, 0);
    assert_eq!(
        psql(&db, "SELECT count(*) FROM n"),
        "1",
        "the insert ran once"
    );
}

#[test]
fn the_pg_state_backend_passes_the_conformance_suite() {
    let url = fresh_db("conformance");
    let n = std::sync::atomic::AtomicU64::new(0);
    cutover::state::conformance::run(|| {
        let key = format!("k{}", n.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        (cutover::state::pg::PgBackend::new(&url, &key).unwrap(), ())
    });
}

#[test]
fn apply_keeps_its_state_in_postgres_and_only_one_apply_runs_at_a_time() {
    let db = fresh_db("state");
    let spec = format!(
        "migration \"pgstate\" {{\n  state \"pg\" {{\n    database = \"{db}\"\n  }}\n}}\nstep \"exec\" \"once\" {{\n  shell = \"echo ran >> ran.log; sleep 0.5\"\n}}\n"
    );
    let p = Project::new().file("main.hcl", &spec);
    let a = p.spawn(&["apply", "-auto-approve"]);
    let b = p.spawn(&["apply", "-auto-approve"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "{codes:?}\n{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let loser = if a.status.success() { &b } else { &a };
    assert!(
        String::from_utf8_lossy(&loser.stderr).contains("the state is locked: apply by"),
        "{}",
        String::from_utf8_lossy(&loser.stderr)
    );
    assert_eq!(p.read("ran.log"), "ran\n");
    assert!(!p.dir.join("cutover.lock").exists(), "no local lockfile");
    let doc: serde_json::Value = serde_json::from_str(&psql(
        &db,
        "SELECT document FROM cutover_state WHERE key = 'pgstate'",
    ))
    .unwrap();
    assert_eq!(doc["nodes"]["step.once"]["status"], "done");
    assert_eq!(
        psql(&db, "SELECT count(*) FROM cutover_journal"),
        "0",
        "the journal was folded"
    );
    let (code, out, _) = p.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    // A killed apply's lock dies with its session: no force-unlock needed.
    let p2 = Project::new().file(
        "main.hcl",
        &spec
            .replace("sleep 0.5", "sleep 30")
            .replace("\"once\"", "\"long\""),
    );
    let child = p2.spawn(&["apply", "-auto-approve"]);
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait_with_output();
    std::thread::sleep(Duration::from_millis(300));
    let (code, _, err) = p2.run(&["state", "list"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = p2.run(&["rollback", "-auto-approve"]);
    assert_eq!(
        code, 0,
        "the lock was released when the killed apply's session ended: {err}"
    );
}

#[test]
fn connections_follow_sslmode_with_tls_through_rustls() {
    let db = fresh_db("tls");
    let ca = std::env::var("CUTOVER_TEST_PG_CA")
        .expect("CUTOVER_TEST_PG_CA is not set: run the tests with ./scripts/test.sh");
    let q = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let spec = format!(
        r#"{DB_VAR}
gate "sql" "required" {{
  database = "${{var.db}}?sslmode=require"
  query    = "{q}"
  expect   = true
}}
gate "sql" "verified" {{
  database = "${{var.db}}?sslmode=verify-full&sslrootcert={ca}"
  query    = "{q}"
  expect   = true
}}
gate "sql" "plain" {{
  database = "${{var.db}}?sslmode=disable"
  query    = "{q}"
  expect   = false
}}
step "pg_dump" "over_tls" {{
  database = "${{var.db}}?sslmode=verify-full&sslrootcert={ca}"
  path     = "tls.dump"
  verify   = true
}}
"#
    );
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, err) = apply(&p, &db);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("done     gate.verified") && out.contains("done     gate.plain"),
        "{out}"
    );
    // Verifying against the system's roots: the self-signed certificate is refused.
    let p = Project::new().file("main.hcl", &format!("{DB_VAR}step \"sql\" \"s\" {{\n  database = \"${{var.db}}?sslmode=verify-full\"\n  sql = \"SELECT 1\"\n}}\n"));
    let (code, out, _) = apply(&p, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("cannot connect to PostgreSQL at 127.0.0.1:") && out.contains("certificate"),
        "{out}"
    );
}

#[test]
fn plain_and_compressed_dumps_restore_into_another_database() {
    let source = fresh_db("src");
    let target = fresh_db("dst");
    psql(&source, "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, repeat('x', g) FROM generate_series(1, 30) g");
    let spec = format!(
        r#"{DB_VAR}
variable "target" {{
  type      = string
  sensitive = true
}}
step "pg_dump" "plain" {{
  database = var.db
  path     = "dumps/plain.sql"
  format   = "plain"
  verify   = true
}}
step "pg_dump" "custom" {{
  database = var.db
  path     = "dumps/custom.dump"
  compress = 9
  verify   = true
}}
step "pg_restore" "copy" {{
  database   = var.target
  path       = step.custom.path
}}
step "sql" "reset" {{
  database   = var.target
  sql        = "DROP TABLE notes"
  depends_on = [step.copy]
}}
step "pg_restore" "copy_plain" {{
  database   = "${{var.target}}"
  path       = step.plain.path
  depends_on = [step.reset]
}}
"#
    );
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, err) = p.run(&[
        "apply",
        "-auto-approve",
        "-var",
        &format!("db={source}"),
        "-var",
        &format!("target={target}"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        psql(&target, "SELECT count(*), sum(length(body)) FROM notes"),
        "30|465"
    );
    let lock: serde_json::Value = serde_json::from_str(&p.read("cutover.lock")).unwrap();
    assert_eq!(lock["nodes"]["step.plain"]["outputs"]["verified"], true);
    assert!(p
        .read("dumps/plain.sql")
        .contains("PostgreSQL database dump complete"));
}

/// `n` sql steps, each with a `done_when` that holds after a short sleep.
fn done_steps(n: usize) -> Project {
    let mut spec = String::from(DB_VAR);
    for i in 0..n {
        spec.push_str(&format!("step \"sql\" \"s{i}\" {{\n  database  = var.db\n  sql       = \"SELECT 1\"\n  done_when = \"SELECT true FROM pg_sleep(0.03)\"\n}}\n"));
    }
    Project::new().file("main.hcl", &spec)
}

/// While `run` runs, runs `sql` against `db` every `every`; returns what
/// `run` returned and every answer.
fn while_running<T: Send>(
    db: &str,
    sql: &str,
    every: Duration,
    run: impl FnOnce() -> T + Send,
) -> (T, Vec<String>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                seen.push(psql(db, sql));
                std::thread::sleep(every);
            }
            seen
        });
        let out = run();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (out, watcher.join().unwrap())
    })
}

#[test]
fn refresh_shares_a_pool_of_at_most_parallelism_connections() {
    let db = fresh_db("pool");
    let p = done_steps(40);
    let name = db.rsplit_once('/').unwrap().1.to_string();
    let ((code, out, err), seen) = while_running(
        &db,
        &format!("SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'cutover' AND datname = '{name}'"),
        Duration::from_millis(20),
        || p.run(&["plan", "-parallelism", "3", "-var", &format!("db={db}")]),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("Plan: No changes. 40 done, 0 unchanged.\n"),
        "{out}"
    );
    let at_once = seen
        .iter()
        .map(|s| s.split(',').filter(|p| !p.is_empty()).count());
    assert!(at_once.clone().max().unwrap_or(0) <= 3, "{seen:?}");
    let mut pids: Vec<&str> = seen
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|p| !p.is_empty())
        .collect();
    pids.sort();
    pids.dedup();
    // 40 queries on at most 3 sessions, not one session each.
    assert!((1..=3).contains(&pids.len()), "{pids:?}");
}

#[test]
fn a_pooled_connection_the_server_drops_mid_refresh_is_replaced() {
    let db = fresh_db("pooldrop");
    let p = done_steps(60);
    let name = db.rsplit_once('/').unwrap().1.to_string();
    let kill = format!("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cutover' AND datname = '{name}') k");
    // Three failovers, 200 ms apart, while the plan reads.
    let (code, out, err, killed) = std::thread::scope(|s| {
        let killer = s.spawn(|| {
            (0..3)
                .map(|_| {
                    std::thread::sleep(Duration::from_millis(200));
                    psql(&db, &kill).parse::<u64>().unwrap()
                })
                .sum::<u64>()
        });
        let (code, out, err) = p.run(&["plan", "-parallelism", "4", "-var", &format!("db={db}")]);
        (code, out, err, killer.join().unwrap())
    });
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("Plan: No changes. 60 done, 0 unchanged.\n"),
        "{out}"
    );
    assert!(killed > 0, "the test terminated no session");
}
