//! Rollback never makes things worse: it stops at a point of no return that
//! has run, and whatever depended on undone work runs again. Against a real
//! PostgreSQL server (scripts/test.sh).

use crate::postgres::{fresh_db, psql};
use crate::support::Project;

/// The three-phase column rename: expand (rollback drops the new column),
/// backfill, contract (drops the old column: a point of no return), then an
/// index on the new column (rollback drops it) and a gate that fails.
const RENAME: &str = r#"
migration "rename" {
  on_failure = "rollback"
}

variable "db" {
  type      = string
  sensitive = true
}

variable "healthy" {
  type    = number
  default = 0
}

step "sql" "expand" {
  database = var.db
  sql      = "ALTER TABLE users ADD COLUMN email_address text"
  rollback {
    sql = "ALTER TABLE users DROP COLUMN email_address"
  }
}

step "sql" "backfill" {
  database   = var.db
  sql        = "UPDATE users SET email_address = email"
  depends_on = [step.expand]
}

step "sql" "contract" {
  database     = var.db
  sql          = "ALTER TABLE users DROP COLUMN email"
  irreversible = true
  depends_on   = [step.backfill]
}

step "sql" "index" {
  database   = var.db
  sql        = "CREATE INDEX users_email_address ON users (email_address)"
  depends_on = [step.contract]
  rollback {
    sql = "DROP INDEX users_email_address"
  }
}

gate "sql" "healthy" {
  database   = var.db
  query      = "SELECT ${var.healthy} = 1"
  interval   = "100ms"
  timeout    = "1s"
  depends_on = [step.index]
}
"#;

fn users_db() -> String {
    let db = fresh_db("rename");
    psql(
        &db,
        "CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, 'a@example.com'), (2, 'b@example.com')",
    );
    db
}

fn columns(db: &str) -> String {
    psql(
        db,
        "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'users'",
    )
}

#[test]
fn rollback_stops_at_a_point_of_no_return_that_has_run() {
    let db = users_db();
    let p = Project::new().file("main.hcl", RENAME);
    let var = format!("db={db}");
    let (_, out, _) = p.run(&["plan", "-var", &var]);
    assert!(
        out.contains("  wave 1   run the rollback of step.expand (not once step.contract has run)\n             sql = \"ALTER TABLE users DROP COLUMN email_address\"\n  After step.contract has run (wave 3), a failure undoes only: step.index\n"),
        "{out}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 1, "the gate fails: {out}{err}");
    assert_eq!(columns(&db), "email_address,id", "{out}");
    assert_eq!(
        psql(
            &db,
            "SELECT string_agg(email_address, ',' ORDER BY id) FROM users"
        ),
        "a@example.com,b@example.com",
        "the only copy of the data survives the rollback: {out}"
    );
    assert_eq!(
        psql(
            &db,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_address'"
        ),
        "0",
        "what came after the point of no return is undone: {out}"
    );
    assert!(
        out.contains("  undone   step.index: ran its rollback block\n"),
        "{out}"
    );
    assert!(
        out.contains("  kept     step.expand: left in place: step.contract depends on it and has run, a point of no return (undo past it only with `cutover rollback --past step.contract`)\n"),
        "{out}"
    );
    assert!(
        out.contains("Apply failed at gate.healthy; rolled back as far as it may: 1 undone, 3 kept; the point of no return step.contract has run, so what it depends on was left in place: step.backfill, step.expand.\n"),
        "{out}"
    );

    // `cutover rollback` stops at the same place, and says so with a non-zero exit.
    let (code, out, err) = p.run(&["rollback", "-auto-approve", "-var", &var]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Rollback stopped short: 0 undone, 3 kept; the point of no return step.contract has run, so what it depends on was left in place: step.backfill, step.expand.\n"),
        "{out}"
    );
    assert_eq!(columns(&db), "email_address,id");

    // Only when the operator names the point of no return is it crossed.
    let (code, out, err) = p.run(&[
        "rollback",
        "-auto-approve",
        "--past",
        "step.index",
        "-var",
        &var,
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("--past step.index: it is not a point of no return that has run"),
        "{err}"
    );
    let (code, out, err) = p.run(&[
        "rollback",
        "-auto-approve",
        "--past",
        "step.contract",
        "-var",
        &var,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("WARNING: rolling back past the point of no return step.contract. It has run and cannot be undone; undoing what it depends on (step.expand, step.backfill) may destroy data that exists nowhere else now. step.contract will run again on the next apply."),
        "{err}"
    );
    assert_eq!(columns(&db), "id", "the operator asked for it");
    assert!(
        out.contains("  invalid  step.backfill: step.expand was rolled back; it runs again on the next apply\n"),
        "{out}"
    );
    assert!(
        out.contains("Rollback complete: 1 undone, 2 kept, 2 to run again.\n"),
        "{out}"
    );
}

#[test]
fn what_depended_on_undone_work_runs_again() {
    let db = users_db();
    // No point of no return: the contract step is left out.
    let spec = RENAME
        .replace("irreversible = true\n", "")
        .replace("ALTER TABLE users DROP COLUMN email\"", "SELECT 1\"");
    let p = Project::new().file("main.hcl", &spec);
    let var = format!("db={db}");
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(columns(&db), "email,id", "expand was undone: {out}");
    assert!(
        out.contains(
            "Apply failed at gate.healthy; rolled back: 2 undone, 2 kept, 2 to run again.\n"
        ),
        "{out}"
    );
    let (_, out, _) = p.run(&["plan", "-var", &var, "-var", "healthy=1"]);
    assert!(
        out.contains("> step.backfill  step.expand was rolled back since it ran; will run again"),
        "{out}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var, "-var", "healthy=1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        psql(
            &db,
            "SELECT string_agg(email_address, ',' ORDER BY id) FROM users"
        ),
        "a@example.com,b@example.com",
        "the backfill ran again on the new column: {out}"
    );
}

#[test]
fn a_done_step_whose_done_when_no_longer_holds_is_drift() {
    let db = users_db();
    let spec = r#"
variable "db" {
  type      = string
  sensitive = true
}

step "sql" "expand" {
  database  = var.db
  sql       = "ALTER TABLE users ADD COLUMN email_address text"
  done_when = "SELECT count(*) = 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email_address'"
}
"#;
    let p = Project::new().file("main.hcl", spec);
    let var = format!("db={db}");
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    psql(&db, "ALTER TABLE users DROP COLUMN email_address");
    let (_, out, _) = p.run(&["plan", "-var", &var]);
    assert!(
        out.contains("> step.expand  drift: recorded as done"),
        "{out}"
    );
    assert!(
        out.contains(
            "but its done_when no longer holds (done_when returned false); will run again"
        ),
        "{out}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(columns(&db), "email,email_address,id");
}
