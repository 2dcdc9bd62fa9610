//! Pooled connections for the provider's reads: one pool per connection
//! string, at most `-parallelism` connections each, a dropped connection
//! replaced.

use super::connect::{config, describe, pg_error, split_tls, tls_config};
use crate::providers::ProviderError;
use tokio_postgres::config::SslMode;
use tokio_postgres::NoTls;

/// Pools of connections, one per connection string, each of at most
/// [`crate::providers::parallelism`] connections, TLS negotiated once per
/// connection: plan's refresh, `done_when`, gates, `remaining` and parity
/// checks share them. A step's SQL runs on a session of its own, so that
/// its `SET`s and transactions never leak into another's.
static POOLS: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<String, deadpool_postgres::Pool>>,
> = std::sync::OnceLock::new();

fn pool(url: &str) -> Result<deadpool_postgres::Pool, ProviderError> {
    use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
    let pools = POOLS.get_or_init(Default::default);
    let mut pools = pools.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(url) {
        return Ok(p.clone());
    }
    let (plain, tls) = split_tls(url);
    let mut cfg = config(&plain)?;
    cfg.application_name("cutover");
    cfg.connect_timeout(std::time::Duration::from_secs(15));
    // Verified: an idle connection the server dropped is noticed and replaced
    // before a query is sent on it.
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Verified,
    };
    let manager = if cfg.get_ssl_mode() == SslMode::Disable {
        Manager::from_config(cfg, NoTls, manager_config)
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(&tls)?);
        Manager::from_config(cfg, tls, manager_config)
    };
    let pool = Pool::builder(manager)
        .max_size(crate::providers::parallelism())
        .build()
        .map_err(|e| ProviderError::failed(format!("cannot make a connection pool: {e}")))?;
    pools.insert(url.to_string(), pool.clone());
    Ok(pool)
}

/// A pooled connection to `url`.
async fn pooled(url: &str) -> Result<deadpool_postgres::Object, ProviderError> {
    let pool = pool(url)?;
    pool.get().await.map_err(|e| {
        let cfg = config(&split_tls(url).0);
        let at = cfg.as_ref().map(describe).unwrap_or_default();
        let why = match &e {
            deadpool_postgres::PoolError::Backend(e) => pg_error(e, None),
            other => other.to_string(),
        };
        ProviderError::failed(format!("cannot connect to PostgreSQL at {at}: {why}"))
    })
}

/// Whether a query failed because its connection was lost (the server
/// ended the session, the network dropped it), not because of the query.
fn connection_lost(e: &tokio_postgres::Error, client: &tokio_postgres::Client) -> bool {
    client.is_closed() || is_connection_error(e)
}

/// Whether `e` says the session ended (SQLSTATE class 08, 57P01–57P05), not
/// that the query was wrong: a `done_when` that meets it cannot tell.
pub fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|c| {
            let c = c.code();
            c.starts_with("57P") || c.starts_with("08")
        })
}

/// Runs `sql` as a simple query on a pooled connection to `url`. A
/// connection lost under the query is replaced and the query sent again, up
/// to twice more (these are reads; a failover drops every connection at
/// once). The outer error: no connection; the inner: the query's.
pub async fn simple_query(
    url: &str,
    sql: &str,
) -> Result<Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error>, ProviderError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let client = pooled(url).await?;
        match client.simple_query(sql).await {
            Err(e) if attempts < 3 && connection_lost(&e, &client) => {
                drop(deadpool_postgres::Object::take(client));
            }
            result => return Ok(result),
        }
    }
}
