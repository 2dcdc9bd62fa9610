//! The `postgres` provider: SQL steps and gates, verified `pg_dump` backups,
//! `pg_restore`, and row-count parity between two databases.
//!
//! Types: `step "sql"`, `gate "sql"`, `step "pg_dump"`, `step "pg_restore"`,
//! `gate "row_parity"`. Connections take libpq-style URLs or `key=value`
//! strings completed from `PG*` variables (tokio-postgres, unencrypted).

pub mod connect;
mod dump;
mod parity;
mod pool;
mod query;

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{Attrs, CheckOutcome, Provider, ProviderError, RunVerdict};
use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use serde_json::Value;

pub struct PostgresProvider;

fn db() -> AttrSchema {
    AttrSchema::new("database", AttrType::String)
        .required()
        .sensitive()
}

fn sql_attrs() -> Vec<AttrSchema> {
    use AttrType::*;
    vec![
        db(),
        AttrSchema::new("sql", String),
        AttrSchema::new("file", String),
        AttrSchema::new("transaction", Bool),
        AttrSchema::new("statement_timeout", Duration),
        AttrSchema::new("lock_timeout", Duration),
    ]
}

#[async_trait]
impl Provider for PostgresProvider {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        use AttrType::*;
        let one: &'static [&'static str] = &["sql", "file"];
        let mut step_attrs = sql_attrs();
        step_attrs.push(AttrSchema::new("dry_run", String));
        let mut sql_step = TypeSchema::new(
            NodeKind::Step,
            "sql",
            step_attrs,
            vec!["rows_affected", "elapsed_ms", "iterations"],
        );
        sql_step.exactly_one_of = vec![one];
        sql_step.rollback = Some({
            let mut rb = sql_attrs();
            rb[0].required = false;
            rb
        });
        vec![
            sql_step,
            TypeSchema::new(
                NodeKind::Gate,
                "sql",
                vec![
                    db(),
                    AttrSchema::new("query", String).required(),
                    AttrSchema::new("expect", Any),
                    AttrSchema::new("expect_rows", Number),
                    AttrSchema::new("expect_empty", Bool),
                    AttrSchema::new("below", Number),
                    AttrSchema::new("above", Number),
                ],
                vec![],
            ),
            TypeSchema::new(
                NodeKind::Step,
                "pg_dump",
                vec![
                    db(),
                    AttrSchema::new("path", String).required(),
                    AttrSchema::new("format", String),
                    AttrSchema::new("compress", Number),
                    AttrSchema::new("verify", Bool),
                    AttrSchema::new("tables", StringList),
                ],
                vec!["path", "size", "sha256", "entries", "verified"],
            )
            .with_rollback(vec![
                AttrSchema::new("restore", Bool),
                AttrSchema::new("clean", Bool),
            ]),
            {
                let mut s = TypeSchema::new(
                    NodeKind::Step,
                    "pg_restore",
                    vec![
                        db(),
                        AttrSchema::new("path", String).required(),
                        AttrSchema::new("clean", Bool),
                    ],
                    vec!["path"],
                );
                s.rollback = None;
                s
            },
            TypeSchema::new(
                NodeKind::Gate,
                "row_parity",
                vec![
                    AttrSchema::new("source", String).required().sensitive(),
                    AttrSchema::new("target", String).required().sensitive(),
                    AttrSchema::new("tables", Any).required(),
                ],
                vec![],
            ),
        ]
    }

    async fn run_step(&self, type_name: &str, attrs: &Attrs) -> Result<Attrs, ProviderError> {
        match type_name {
            "sql" => query::run_sql(attrs).await,
            "pg_dump" => dump::dump(attrs).await,
            "pg_restore" => dump::restore(attrs).await,
            other => Err(ProviderError::unsupported("postgres", "step", other)),
        }
    }

    async fn check(&self, type_name: &str, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        match type_name {
            "sql" => query::check(attrs).await,
            "row_parity" => parity::check(attrs).await,
            other => Err(ProviderError::unsupported("postgres", "gate", other)),
        }
    }

    fn repeats(&self, type_name: &str) -> bool {
        type_name == "sql"
    }

    async fn dry_run(
        &self,
        type_name: &str,
        attrs: &Attrs,
        how: &Value,
    ) -> Result<String, ProviderError> {
        match (type_name, how.as_str()) {
            ("sql", Some("rollback")) => query::rolled_back(attrs).await,
            ("sql", Some(q)) => query::first_row(attrs, q).await,
            _ => Err(ProviderError::failed(
                "dry_run is \"rollback\" or a query whose first row the plan shows",
            )),
        }
    }

    async fn measure(
        &self,
        type_name: &str,
        attrs: &Attrs,
        probe: &Value,
    ) -> Result<f64, ProviderError> {
        match (type_name, probe) {
            ("sql", Value::String(q)) => query::number(attrs, q).await,
            _ => Err(ProviderError::failed(
                "remaining of a sql step is a query whose first value is a number",
            )),
        }
    }

    async fn step_done(
        &self,
        type_name: &str,
        attrs: &Attrs,
        done_when: &Value,
    ) -> Result<CheckOutcome, ProviderError> {
        match (type_name, done_when) {
            ("sql" | "pg_restore", Value::String(q)) => query::done_when(attrs, q).await,
            ("pg_dump", _) => {
                // A dump is done when its archive exists and reads back.
                let path = attrs.get("path").and_then(Value::as_str).unwrap_or("");
                Ok(CheckOutcome { value: None, limits: Vec::new(), holds: std::path::Path::new(path).is_file(), measured: format!("archive {path}") })
            }
            _ => Err(ProviderError::failed("done_when of a sql step is a query whose first value is true when the step is done")),
        }
    }

    async fn run_rollback(
        &self,
        type_name: &str,
        step: &Attrs,
        rollback: &Attrs,
    ) -> Result<Attrs, ProviderError> {
        if type_name == "pg_dump" {
            // The rollback of a backup: restore it (`restore = true`), into the database it came from.
            if rollback.get("restore").and_then(Value::as_bool) != Some(true) {
                return Ok(Attrs::new());
            }
            let mut attrs = rollback.clone();
            for k in ["database", "path"] {
                if let Some(v) = step.get(k) {
                    attrs.insert(k.into(), v.clone());
                }
            }
            return dump::restore(&attrs).await;
        }
        self.run_step(type_name, rollback).await
    }

    async fn interrupted(
        &self,
        type_name: &str,
        attrs: &Attrs,
        run_id: &str,
    ) -> Result<RunVerdict, ProviderError> {
        // A transactional sql step records its run id in the same transaction.
        if type_name != "sql" || attrs.get("transaction").and_then(Value::as_bool) == Some(false) {
            return Ok(RunVerdict::Unknown(
                "it ran outside a transaction: it may have done part of its work".into(),
            ));
        }
        Ok(match query::committed(attrs, run_id).await? {
            true => RunVerdict::Completed {
                why: "its work committed".into(),
                outputs: Attrs::new(),
            },
            false => RunVerdict::NotCompleted("its work did not commit".into()),
        })
    }

    fn derived(&self, type_name: &str, attrs: &Attrs) -> Attrs {
        // The SQL a `file` holds is part of the step's definition: its checksum
        // changes when the file does, and the plan shows it.
        let mut out = Attrs::new();
        if type_name == "sql" {
            if let Some(f) = attrs.get("file").and_then(Value::as_str) {
                if let Ok(text) = std::fs::read_to_string(f) {
                    out.insert("file_sql".into(), Value::String(text));
                }
            }
        }
        out
    }
}
