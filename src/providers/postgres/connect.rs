//! Connections: libpq-style URLs or `key=value` strings, completed from the
//! standard `PG*` environment variables. Passwords never appear in messages.

use crate::providers::ProviderError;
use std::str::FromStr;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// The parsed connection settings of a `database` attribute.
pub fn config(url: &str) -> Result<Config, ProviderError> {
    let mut cfg = if url.trim().is_empty() {
        Config::new()
    } else {
        Config::from_str(url).map_err(|e| {
            ProviderError::failed(format!(
                "`database` is not a PostgreSQL connection string: {e}"
            ))
        })?
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if cfg.get_hosts().is_empty() {
        cfg.host(env("PGHOST").unwrap_or_else(|| "localhost".into()));
    }
    if cfg.get_ports().is_empty() {
        if let Some(p) = env("PGPORT").and_then(|p| p.parse().ok()) {
            cfg.port(p);
        }
    }
    if cfg.get_user().is_none() {
        cfg.user(
            env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into()),
        );
    }
    if cfg.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            cfg.password(pw);
        }
    }
    if cfg.get_dbname().is_none() {
        if let Some(db) = env("PGDATABASE") {
            cfg.dbname(&db);
        }
    }
    if cfg.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(ProviderError::failed("sslmode=require is not supported by this build (connections are unencrypted; use a loopback address, a tunnel or a VPC endpoint)"));
    }
    Ok(cfg)
}

/// "host:port/database" for messages, never the password.
pub fn describe(cfg: &Config) -> String {
    let host = match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let db = cfg.get_dbname().or(cfg.get_user()).unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// A connected client; its connection task runs on the current runtime.
pub async fn connect(url: &str) -> Result<Client, ProviderError> {
    let cfg = config(url)?;
    let (client, conn) =
        tokio::time::timeout(std::time::Duration::from_secs(15), cfg.connect(NoTls))
            .await
            .map_err(|_| {
                ProviderError::failed(format!(
                    "cannot connect to PostgreSQL at {}: timed out after 15s",
                    describe(&cfg)
                ))
            })?
            .map_err(|e| {
                ProviderError::failed(format!(
                    "cannot connect to PostgreSQL at {}: {}",
                    describe(&cfg),
                    pg_error(&e, None)
                ))
            })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A server error as the operator needs it: code, message, and where in the SQL.
pub fn pg_error(e: &tokio_postgres::Error, sql: Option<(&str, &str)>) -> String {
    let Some(db) = e.as_db_error() else {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(&format!(": {inner}"));
            src = inner.source();
        }
        return s;
    };
    let mut s = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let (Some(tokio_postgres::error::ErrorPosition::Original(pos)), Some((text, origin))) =
        (db.position(), sql)
    {
        let upto: String = text
            .chars()
            .take((*pos as usize).saturating_sub(1))
            .collect();
        let line = upto.matches('\n').count() + 1;
        let col = upto
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count() + 1)
            .unwrap_or(1);
        s.push_str(&format!(" (at line {line}, column {col} of {origin})"));
    }
    if let Some(d) = db.detail() {
        s.push_str(&format!("; {d}"));
    }
    if let Some(h) = db.hint() {
        s.push_str(&format!("; hint: {h}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_never_show_the_password() {
        let cfg = config("postgres://app:s3cret@db.internal:6543/orders").unwrap();
        assert_eq!(describe(&cfg), "db.internal:6543/orders");
        let cfg = config("host=127.0.0.1 port=5544 user=x password=pw dbname=d").unwrap();
        assert_eq!(describe(&cfg), "127.0.0.1:5544/d");
    }
}
