//! The row-count parity gate: the same tables hold as many rows on both sides
//! of a copy. A side is a PostgreSQL database, or a SQLite file (`sqlite:PATH`).

use super::connect::pg_error;
use crate::providers::{Attrs, CheckOutcome, ProviderError};
use serde_json::Value;

fn ident(name: &str) -> Result<String, ProviderError> {
    let ok = !name.is_empty()
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if !ok {
        return Err(ProviderError::failed(format!(
            "\"{name}\" is not a table name (letters, digits, _ and one optional schema dot)"
        )));
    }
    Ok(name
        .split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join("."))
}

async fn count(side: &str, table: &str) -> Result<i64, ProviderError> {
    let q = format!("SELECT count(*) FROM {}", ident(table)?);
    if let Some(path) = side.strip_prefix("sqlite:") {
        let (path, q) = (path.to_string(), q.clone());
        return tokio::task::spawn_blocking(move || -> Result<i64, ProviderError> {
            let db = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .map_err(|e| {
                ProviderError::failed(format!("cannot open SQLite database {path}: {e}"))
            })?;
            db.query_row(&q, [], |r| r.get(0))
                .map_err(|e| ProviderError::failed(format!("{path}: {e}")))
        })
        .await
        .map_err(|e| ProviderError::failed(e.to_string()))?;
    }
    let msgs = super::pool::simple_query(side, &q)
        .await?
        .map_err(|e| ProviderError::failed(pg_error(&e, Some((&q, "the count")))))?;
    let first = msgs.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    first
        .as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ProviderError::failed(format!("the count `{q}` returned no number")))
}

/// Polls the gate once: counts every table on both sides.
pub async fn check(attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
    let source = attrs
        .get("source")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed("`source` must be a string"))?;
    let target = attrs
        .get("target")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed("`target` must be a string"))?;
    let tables: Vec<(String, String)> = match attrs.get("tables") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|t| (t.to_string(), t.to_string()))
            .collect(),
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|t| (k.clone(), t.to_string())))
            .collect(),
        _ => {
            return Err(ProviderError::failed(
                "`tables` must be a list of names, or a map of source table → target table",
            ))
        }
    };
    let mut holds = true;
    let mut seen = Vec::new();
    for (s, t) in &tables {
        let (a, b) = (count(source, s).await?, count(target, t).await?);
        holds &= a == b;
        let name = if s == t {
            s.clone()
        } else {
            format!("{s}→{t}")
        };
        seen.push(format!("{name} {a} {} {b}", if a == b { "=" } else { "≠" }));
    }
    Ok(CheckOutcome {
        value: None,
        limits: Vec::new(),
        holds,
        measured: seen.join(", "),
    })
}
