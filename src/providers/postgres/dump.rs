//! `pg_dump` with verification, and `pg_restore`, through the external tools.
//! The password goes to the tools through PGPASSWORD, never on a command line.

use super::connect::{config, describe};
use crate::providers::local::run_command;
use crate::providers::{Attrs, ProviderError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_postgres::config::Host;

/// Environment for libpq tools: host, port, user, database, password.
fn libpq_env(url: &str) -> Result<serde_json::Map<String, Value>, ProviderError> {
    let (url, tls) = super::connect::split_tls(url);
    let cfg = config(&url)?;
    let mut env = serde_json::Map::new();
    let mode = match (tls.verify, cfg.get_ssl_mode()) {
        (true, _) => "verify-full",
        (false, tokio_postgres::config::SslMode::Disable) => "disable",
        (false, tokio_postgres::config::SslMode::Require) => "require",
        _ => "prefer",
    };
    env.insert("PGSSLMODE".into(), json!(mode));
    if let Some(root) = &tls.root_cert {
        env.insert("PGSSLROOTCERT".into(), json!(root));
    }
    match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => env.insert("PGHOST".into(), json!(h)),
        Some(Host::Unix(p)) => env.insert("PGHOST".into(), json!(p.display().to_string())),
        None => None,
    };
    if let Some(p) = cfg.get_ports().first() {
        env.insert("PGPORT".into(), json!(p.to_string()));
    }
    if let Some(u) = cfg.get_user() {
        env.insert("PGUSER".into(), json!(u));
    }
    if let Some(d) = cfg.get_dbname() {
        env.insert("PGDATABASE".into(), json!(d));
    }
    if let Some(pw) = cfg.get_password() {
        env.insert("PGPASSWORD".into(), json!(String::from_utf8_lossy(pw)));
    }
    Ok(env)
}

async fn tool(url: &str, argv: Vec<String>, what: &str) -> Result<String, ProviderError> {
    let mut attrs = Attrs::new();
    attrs.insert("command".into(), json!(argv));
    attrs.insert("env".into(), Value::Object(libpq_env(url)?));
    let out = run_command(&attrs).await?;
    if out.exit_code != 0 {
        let cfg = config(&super::connect::split_tls(url).0)?;
        return Err(ProviderError::failed(format!(
            "{what} of {} exited with status {}: {}",
            describe(&cfg),
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(out.stdout)
}

fn s<'a>(attrs: &'a Attrs, k: &str) -> Option<&'a str> {
    attrs.get(k).and_then(Value::as_str)
}

/// `pg_dump` to `path`; with `verify`, reads the archive back before returning.
pub async fn dump(attrs: &Attrs) -> Result<Attrs, ProviderError> {
    let url = s(attrs, "database").unwrap_or("");
    let path = s(attrs, "path").ok_or_else(|| ProviderError::failed("`path` must be a string"))?;
    let format = s(attrs, "format").unwrap_or("custom");
    let flag = match format {
        "custom" => "--format=custom",
        "plain" => "--format=plain",
        other => {
            return Err(ProviderError::failed(format!(
                "format \"{other}\" is not \"custom\" or \"plain\""
            )))
        }
    };
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| ProviderError::failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let tmp = format!("{path}.partial");
    let mut argv = vec![
        "pg_dump".to_string(),
        flag.into(),
        "--no-password".into(),
        format!("--file={tmp}"),
    ];
    if let Some(z) = attrs.get("compress").and_then(Value::as_u64) {
        argv.push(format!("--compress={z}"));
    }
    for t in attrs
        .get("tables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        argv.push(format!("--table={t}"));
    }
    tool(url, argv, "pg_dump").await?;
    // Only a complete dump takes the final name.
    std::fs::rename(&tmp, path)
        .map_err(|e| ProviderError::failed(format!("cannot move the dump into place: {e}")))?;
    let bytes = std::fs::read(path)
        .map_err(|e| ProviderError::failed(format!("cannot read back {path}: {e}")))?;
    let mut out = Attrs::new();
    out.insert("path".into(), json!(path));
    out.insert("size".into(), json!(bytes.len()));
    out.insert("sha256".into(), json!(hex::encode(Sha256::digest(&bytes))));
    if attrs
        .get("verify")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let entries = verify(path, format, &bytes).await?;
        out.insert("entries".into(), json!(entries));
        out.insert("verified".into(), json!(true));
    }
    Ok(out)
}

/// Reads an archive back: `pg_restore --list` for custom archives, the
/// trailer for plain ones. Returns how many entries it holds.
async fn verify(path: &str, format: &str, bytes: &[u8]) -> Result<u64, ProviderError> {
    if format == "plain" {
        let text = String::from_utf8_lossy(bytes);
        if !text.contains("PostgreSQL database dump complete") {
            return Err(ProviderError::failed(format!(
                "verification failed: {path} does not end like a complete pg_dump"
            )));
        }
        return Ok(text.matches("\n-- Name: ").count() as u64);
    }
    let mut attrs = Attrs::new();
    attrs.insert("command".into(), json!(["pg_restore", "--list", path]));
    let out = run_command(&attrs).await?;
    if out.exit_code != 0 {
        return Err(ProviderError::failed(format!(
            "verification failed: pg_restore --list {path}: {}",
            out.stderr.trim()
        )));
    }
    let entries = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .count() as u64;
    Ok(entries)
}

/// `pg_restore` of a custom archive (or `psql -f` of a plain one) into `database`.
pub async fn restore(attrs: &Attrs) -> Result<Attrs, ProviderError> {
    let url = s(attrs, "database").unwrap_or("");
    let path = s(attrs, "path").ok_or_else(|| ProviderError::failed("`path` must be a string"))?;
    if !std::path::Path::new(path).is_file() {
        return Err(ProviderError::failed(format!(
            "the archive {path} does not exist"
        )));
    }
    let plain = std::fs::read(path)
        .map(|b| b.starts_with(b"--"))
        .unwrap_or(false);
    let argv: Vec<String> = if plain {
        vec![
            "psql".into(),
            "--no-password".into(),
            "--quiet".into(),
            "--set=ON_ERROR_STOP=1".into(),
            "--single-transaction".into(),
            format!("--file={path}"),
        ]
    } else {
        let mut v = vec![
            "pg_restore".to_string(),
            "--no-password".into(),
            "--single-transaction".into(),
            "--no-owner".into(),
        ];
        if attrs.get("clean").and_then(Value::as_bool).unwrap_or(true) {
            v.push("--clean".into());
            v.push("--if-exists".into());
        }
        let db = config(&super::connect::split_tls(url).0)?
            .get_dbname()
            .map(str::to_string)
            .unwrap_or_else(|| "postgres".into());
        v.push(format!("--dbname={db}"));
        v.push(path.into());
        v
    };
    tool(url, argv, "restore").await?;
    let mut out = Attrs::new();
    out.insert("path".into(), json!(path));
    Ok(out)
}
