//! Batched data steps (`repeat {}`) on a real PostgreSQL server: a backfill
//! of N rows, 1,000 a batch, by `cutover apply` against the same batches
//! from a psql script as a runbook runs them (check, then one UPDATE, until
//! done). The difference per iteration is the loop machinery's overhead:
//! the journaled progress, the events and the `until` check. A partial index
//! on the rows still to fill keeps each batch's cost flat, as a real
//! backfill's would be.

use crate::measure::{measure_in, scratch, write_results};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const BATCH: u64 = 1000;
const UPDATE: &str = "UPDATE users SET email_address = email WHERE id IN (SELECT id FROM users WHERE email_address IS NULL ORDER BY id LIMIT 1000)";
const UNTIL: &str = "SELECT count(*) = 0 FROM users WHERE email_address IS NULL";

fn psql(url: &str, sql: &str) {
    let status = std::process::Command::new("psql")
        .args([url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .expect("psql");
    assert!(status.success(), "psql {sql}");
}

/// Runs the suite against `CUTOVER_TEST_PG`, for each row count.
pub fn batches(bin: &Path, out: &Path, counts: &[u64]) {
    let Ok(url) = std::env::var("CUTOVER_TEST_PG") else {
        println!("batches: CUTOVER_TEST_PG is not set; start PostgreSQL with scripts/services.sh (start_services) first");
        return;
    };
    let mut md = String::from("| rows | iterations | cutover apply (s) | psql script (s) | ratio | overhead per iteration (ms) | cutover rows/s | command |\n|---:|---:|---:|---:|---:|---:|---:|---|\n");
    let mut rows = Vec::new();
    for &n in counts {
        let dir = scratch(&format!("batches-{n}"));
        let db = format!("bench_batches_{n}");
        psql(&url, &format!("DROP DATABASE IF EXISTS {db}"));
        psql(&url, &format!("CREATE DATABASE {db}"));
        let (prefix, _) = url.rsplit_once('/').expect("a database URL");
        let db_url = format!("{prefix}/{db}");
        psql(&db_url, &format!("CREATE TABLE users (id int PRIMARY KEY, email text, email_address text); INSERT INTO users (id, email) SELECT g, 'u' || g FROM generate_series(1, {n}) g; CREATE INDEX users_to_fill ON users (id) WHERE email_address IS NULL; ANALYZE users"));
        let spec = format!("variable \"db\" {{\n  type      = string\n  sensitive = true\n}}\n\nstep \"sql\" \"backfill\" {{\n  database = var.db\n  sql      = \"{UPDATE}\"\n  repeat {{\n    until = \"{UNTIL}\"\n  }}\n}}\n");
        std::fs::write(dir.join("main.hcl"), spec).expect("spec");
        let script = format!("set -e\nwhile [ \"$(psql \"$DB\" -XAtqc \"{UNTIL}\")\" = f ]; do\n  psql \"$DB\" -XAtqc \"{UPDATE}\" >/dev/null\ndone\n");
        std::fs::write(dir.join("by-hand.sh"), script).expect("script");
        let var = format!("db={db_url}");
        let ours = measure_in(
            bin,
            &dir,
            &["apply", "-auto-approve", "-no-color", "-var", &var],
        );
        assert_eq!(ours.code, 0, "apply failed");
        psql(&db_url, "UPDATE users SET email_address = NULL");
        let start = Instant::now();
        let status = std::process::Command::new("sh")
            .arg("by-hand.sh")
            .current_dir(&dir)
            .env("DB", &db_url)
            .status()
            .expect("sh");
        assert!(status.success(), "psql script failed");
        let theirs = start.elapsed().as_secs_f64();
        let iterations = n.div_ceil(BATCH);
        let overhead_ms = (ours.wall_s - theirs) * 1000.0 / iterations as f64;
        let rate = n as f64 / ours.wall_s;
        let _ = writeln!(md, "| {n} | {iterations} | {:.2} | {theirs:.2} | {:.3} | {overhead_ms:.2} | {rate:.0} | `cutover apply` (repeat) vs `sh by-hand.sh` |", ours.wall_s, ours.wall_s / theirs);
        println!("batches {n} rows: cutover {:.2} s, psql script {theirs:.2} s ({:.3}), {overhead_ms:.2} ms per iteration, {rate:.0} rows/s", ours.wall_s, ours.wall_s / theirs);
        rows.push(serde_json::json!({ "rows": n, "iterations": iterations, "cutover_s": ours.wall_s, "psql_s": theirs, "overhead_ms_per_iteration": overhead_ms, "rows_per_s": rate }));
        psql(&url, &format!("DROP DATABASE {db}"));
    }
    write_results(
        out,
        "batches",
        serde_json::json!({ "suite": "batches", "rows": rows }),
        &md,
    );
}
