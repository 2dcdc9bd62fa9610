//! SQL steps and gates: run statements in a transaction, check a query's
//! result against an expectation.

use super::connect::{connect, pg_error};
use crate::providers::{Attrs, CheckOutcome, ProviderError};
use serde_json::Value;
use tokio_postgres::SimpleQueryMessage;

/// The SQL of a step or rollback block: `sql` inline, or read from `file`.
pub fn sql_text(attrs: &Attrs) -> Result<(String, String), ProviderError> {
    if let Some(s) = attrs.get("sql").and_then(Value::as_str) {
        return Ok((s.to_string(), "the sql attribute".into()));
    }
    if let Some(f) = attrs.get("file").and_then(Value::as_str) {
        let text = std::fs::read_to_string(f)
            .map_err(|e| ProviderError::failed(format!("cannot read SQL file {f}: {e}")))?;
        return Ok((text, f.to_string()));
    }
    Err(ProviderError::failed("needs `sql` or `file`"))
}

fn database(attrs: &Attrs) -> &str {
    attrs.get("database").and_then(Value::as_str).unwrap_or("")
}

/// The table in which transactional sql steps record their runs.
const HISTORY: &str = "cutover_step_history";

/// Whether the run `run_id` of a transactional sql step committed.
pub async fn committed(attrs: &Attrs, run_id: &str) -> Result<bool, ProviderError> {
    let client = connect(database(attrs)).await?;
    let exists = client
        .query_one(&format!("SELECT to_regclass('{HISTORY}') IS NOT NULL"), &[])
        .await
        .map_err(|e| ProviderError::failed(pg_error(&e, None)))?;
    if !exists.get::<_, bool>(0) {
        return Ok(false);
    }
    let q = format!(
        "SELECT EXISTS (SELECT 1 FROM {HISTORY} WHERE run_id = {})",
        quote(run_id)
    );
    let row = client
        .query_one(q.as_str(), &[])
        .await
        .map_err(|e| ProviderError::failed(pg_error(&e, None)))?;
    Ok(row.get::<_, bool>(0))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Runs a `sql` step: in one transaction unless `transaction = false`.
pub async fn run_sql(attrs: &Attrs) -> Result<Attrs, ProviderError> {
    let (sql, origin) = sql_text(attrs)?;
    let (client, canceller) = super::connect::connect_cancellable(database(attrs)).await?;
    // Dropped part-way (an interrupt, a timeout): the server cancels the query too.
    let guard = canceller.arm();
    let result = run_in_session(&client, attrs, &sql, &origin).await;
    guard.disarm();
    result
}

async fn run_in_session(
    client: &tokio_postgres::Client,
    attrs: &Attrs,
    sql: &str,
    origin: &str,
) -> Result<Attrs, ProviderError> {
    let in_tx = attrs
        .get("transaction")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let scope = if in_tx { "LOCAL" } else { "SESSION" };
    let mut setup = String::new();
    if in_tx {
        setup.push_str("BEGIN; ");
    }
    for (attr, setting) in [
        ("statement_timeout", "statement_timeout"),
        ("lock_timeout", "lock_timeout"),
    ] {
        if let Some(v) = attrs.get(attr).and_then(Value::as_str) {
            let ms = crate::eval::duration::parse(v)
                .map_err(ProviderError::Failed)?
                .as_millis();
            setup.push_str(&format!(
                "SET {scope} {setting} = {}; ",
                quote(&format!("{ms}ms"))
            ));
        }
    }
    if !setup.is_empty() {
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| ProviderError::failed(pg_error(&e, None)))?;
    }
    let started = std::time::Instant::now();
    match client.simple_query(sql).await {
        Ok(msgs) => {
            if in_tx {
                // The run id commits with the step's effect, or not at all: after a
                // crash, `committed` tells which.
                if let Some(run) = attrs.get(crate::providers::RUN_ID).and_then(Value::as_str) {
                    let mark = format!(
                        "CREATE TABLE IF NOT EXISTS {HISTORY} (run_id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()); \
                         INSERT INTO {HISTORY} (run_id) VALUES ({}) ON CONFLICT DO NOTHING",
                        quote(run)
                    );
                    if let Err(e) = client.batch_execute(&mark).await {
                        let _ = client.batch_execute("ROLLBACK").await;
                        return Err(ProviderError::failed(format!("recording the run in {HISTORY} failed: {}; the transaction was rolled back", pg_error(&e, None))));
                    }
                }
                client.batch_execute("COMMIT").await.map_err(|e| {
                    ProviderError::failed(format!("COMMIT failed: {}", pg_error(&e, None)))
                })?;
            }
            let rows = rows_changed(&msgs);
            let mut out = Attrs::new();
            out.insert("rows_affected".into(), Value::from(rows));
            out.insert(
                "elapsed_ms".into(),
                Value::from(started.elapsed().as_millis() as u64),
            );
            Ok(out)
        }
        Err(e) => {
            if in_tx {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            let rolled = if in_tx {
                "; the transaction was rolled back"
            } else {
                ""
            };
            Err(ProviderError::failed(format!(
                "{}{rolled}",
                pg_error(&e, Some((sql, origin)))
            )))
        }
    }
}

/// The rows of a query, as text.
async fn rows(database: &str, query: &str) -> Result<Vec<Vec<Option<String>>>, ProviderError> {
    let msgs = super::pool::simple_query(database, query)
        .await?
        .map_err(|e| ProviderError::failed(pg_error(&e, Some((query, "the query")))))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

/// The rows the statements of a simple query changed, in all.
fn rows_changed(msgs: &[SimpleQueryMessage]) -> u64 {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .sum()
}

/// A `dry_run` query's first row, as the plan shows it.
pub async fn first_row(attrs: &Attrs, query: &str) -> Result<String, ProviderError> {
    let rows = rows(database(attrs), query).await?;
    Ok(match rows.first() {
        None => "no rows".into(),
        Some(r) => r
            .iter()
            .map(|v| v.as_deref().unwrap_or("NULL").to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// `dry_run = "rollback"`: the step's SQL in a transaction that is rolled
/// back; what it would change.
pub async fn rolled_back(attrs: &Attrs) -> Result<String, ProviderError> {
    let (sql, origin) = sql_text(attrs)?;
    let client = connect(database(attrs)).await?;
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| ProviderError::failed(pg_error(&e, None)))?;
    let result = client.simple_query(&sql).await;
    let _ = client.batch_execute("ROLLBACK").await;
    let msgs = result.map_err(|e| ProviderError::failed(pg_error(&e, Some((&sql, &origin)))))?;
    let rows = rows_changed(&msgs);
    Ok(format!(
        "it would change {rows} row{} (run in a transaction that was rolled back)",
        if rows == 1 { "" } else { "s" }
    ))
}

/// The first value of `query`, as a number (`remaining` of a repeating step).
pub async fn number(attrs: &Attrs, query: &str) -> Result<f64, ProviderError> {
    let rows = rows(database(attrs), query).await?;
    let first = rows.first().and_then(|r| r.first().cloned()).flatten();
    first
        .as_deref()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| {
            ProviderError::failed(format!(
                "the query returned {}, not a number",
                first.as_deref().unwrap_or("no rows")
            ))
        })
}

fn truthy(v: Option<&str>) -> bool {
    match v {
        None => false,
        Some(s) => !matches!(s.trim(), "" | "f" | "false" | "0" | "no" | "off"),
    }
}

/// `done_when` of a sql step: the query's first value is true (or non-zero,
/// non-empty). A query that fails (a table that does not exist yet) means
/// "not done"; a server that cannot be reached is an error.
pub async fn done_when(attrs: &Attrs, query: &str) -> Result<CheckOutcome, ProviderError> {
    let msgs = match super::pool::simple_query(database(attrs), query).await? {
        Ok(m) => m,
        Err(e) if e.as_db_error().is_some() && !super::pool::is_connection_error(&e) => {
            return Ok(CheckOutcome {
                value: None,
                limits: Vec::new(),
                holds: false,
                measured: format!("done_when failed: {}", pg_error(&e, None)),
            });
        }
        Err(e) => return Err(ProviderError::failed(pg_error(&e, None))),
    };
    let first = msgs.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
        _ => None,
    });
    let first = first.flatten();
    Ok(CheckOutcome {
        value: None,
        limits: Vec::new(),
        holds: truthy(first.as_deref()),
        measured: format!(
            "done_when returned {}",
            match first.as_deref() {
                Some("t") => "true",
                Some("f") => "false",
                Some(other) => other,
                None => "no rows",
            }
        ),
    })
}

fn same(got: &str, want: &Value) -> bool {
    match want {
        Value::Number(n) => got.trim().parse::<f64>().ok() == n.as_f64(),
        Value::Bool(b) => truthy(Some(got)) == *b,
        Value::String(s) => got == s,
        Value::Null => false,
        other => serde_json::to_string(other).ok().as_deref() == Some(got),
    }
}

/// Polls a `sql` gate once.
pub async fn check(attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
    let query = attrs
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed("`query` must be a string"))?;
    let rows = rows(database(attrs), query).await?;
    let first = rows.first().and_then(|r| r.first()).cloned().flatten();
    let shown = match &first {
        Some(v) => v.clone(),
        None if rows.is_empty() => "no rows".into(),
        None => "NULL".into(),
    };
    let mut holds = true;
    let mut parts = Vec::new();
    if let Some(want) = attrs.get("expect") {
        let ok = first.as_deref().is_some_and(|g| same(g, want));
        holds &= ok;
        parts.push(format!("value {shown} (want {want})"));
    }
    if let Some(n) = attrs.get("expect_rows").and_then(Value::as_u64) {
        holds &= rows.len() as u64 == n;
        parts.push(format!("{} rows (want {n})", rows.len()));
    }
    if attrs.get("expect_empty").and_then(Value::as_bool) == Some(true) {
        holds &= rows.is_empty();
        parts.push(format!("{} rows (want none)", rows.len()));
    }
    let num = first.as_deref().and_then(|v| v.trim().parse::<f64>().ok());
    let mut limits = Vec::new();
    for (op, below) in [("below", true), ("above", false)] {
        if let Some(limit) = attrs.get(op).and_then(Value::as_f64) {
            let ok = num.is_some_and(|n| if below { n < limit } else { n > limit });
            holds &= ok;
            parts.push(format!("value {shown} (want {op} {limit})"));
            limits.push(crate::providers::Limit {
                op: op.into(),
                value: limit,
            });
        }
    }
    if parts.is_empty() {
        // No expectation: the query must return a true first value.
        holds = truthy(first.as_deref());
        parts.push(format!("value {shown}"));
    }
    let outcome = CheckOutcome::new(holds, parts.join(", "));
    Ok(match num {
        Some(n) => outcome.with_value(n, limits),
        None => outcome,
    })
}
