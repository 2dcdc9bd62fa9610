//! Connections: libpq-style URLs or `key=value` strings, completed from the
//! standard `PG*` environment variables. Passwords never appear in messages.

use crate::providers::ProviderError;
use std::str::FromStr;
use std::sync::Arc;
use tokio_postgres::config::{Host, SslMode};
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
    connect_cancellable(url).await.map(|(client, _)| client)
}

/// Cancels the query a session is running, on the server (PostgreSQL's cancel request).
pub struct Canceller {
    token: tokio_postgres::CancelToken,
    tls: Option<rustls::ClientConfig>,
}

impl Canceller {
    /// A guard that cancels the session's query if it is dropped before [`CancelGuard::disarm`].
    pub fn arm(self) -> CancelGuard {
        CancelGuard(Some(self))
    }
}

/// Cancels on the server the query of a call that was dropped part-way.
pub struct CancelGuard(Option<Canceller>);

impl CancelGuard {
    /// The query finished: nothing to cancel.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        let Some(c) = self.0.take() else { return };
        crate::providers::cancel::after_cancel(async move {
            let _ = match c.tls {
                None => c.token.cancel_query(NoTls).await,
                Some(cfg) => {
                    c.token
                        .cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(cfg))
                        .await
                }
            };
        });
    }
}

/// A connected client and the means to cancel its query on the server. The
/// session's `application_name` names the node it works for
/// (`cutover:<migration>:<address>`), so that an operator can find it in
/// `pg_stat_activity`.
pub async fn connect_cancellable(url: &str) -> Result<(Client, Canceller), ProviderError> {
    let (url, tls) = split_tls(url);
    let mut cfg = config(&url)?;
    if let Some(name) = crate::providers::session_name() {
        cfg.application_name(&name);
    }
    let failed = |e: tokio_postgres::Error| {
        ProviderError::failed(format!(
            "cannot connect to PostgreSQL at {}: {}",
            describe(&cfg),
            pg_error(&e, None)
        ))
    };
    let timeout = std::time::Duration::from_secs(15);
    let timed_out = || {
        ProviderError::failed(format!(
            "cannot connect to PostgreSQL at {}: timed out after 15s",
            describe(&cfg)
        ))
    };
    if cfg.get_ssl_mode() == SslMode::Disable {
        let (client, conn) = tokio::time::timeout(timeout, cfg.connect(NoTls))
            .await
            .map_err(|_| timed_out())?
            .map_err(failed)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let token = client.cancel_token();
        return Ok((client, Canceller { token, tls: None }));
    }
    let tls_cfg = tls_config(&tls)?;
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls_cfg.clone());
    let (client, conn) = tokio::time::timeout(timeout, cfg.connect(connector))
        .await
        .map_err(|_| timed_out())?
        .map_err(failed)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let token = client.cancel_token();
    Ok((
        client,
        Canceller {
            token,
            tls: Some(tls_cfg),
        },
    ))
}

/// TLS settings that tokio-postgres does not parse itself.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tls {
    /// `sslmode=verify-ca` or `verify-full`: check the server's certificate.
    pub verify: bool,
    /// `sslrootcert=PATH`.
    pub root_cert: Option<String>,
}

/// Splits `sslmode=verify-*` and `sslrootcert` off a connection string.
pub fn split_tls(url: &str) -> (String, Tls) {
    let mut tls = Tls::default();
    let mut keep = |pair: &str| -> bool {
        match pair.split_once('=') {
            Some(("sslmode", "verify-ca" | "verify-full")) => {
                tls.verify = true;
                false
            }
            Some(("sslrootcert", path)) => {
                tls.root_cert = Some(path.to_string());
                false
            }
            _ => true,
        }
    };
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), tls);
        };
        let kept: Vec<&str> = query.split('&').filter(|p| keep(p)).collect();
        let mut out = base.to_string();
        let mut params = kept.join("&");
        if tls.verify {
            if !params.is_empty() {
                params.push('&');
            }
            params.push_str("sslmode=require");
        }
        if !params.is_empty() {
            out.push('?');
            out.push_str(&params);
        }
        return (out, tls);
    }
    let mut kept: Vec<&str> = url.split_whitespace().filter(|p| keep(p)).collect();
    if tls.verify {
        kept.push("sslmode=require");
    }
    (kept.join(" "), tls)
}

/// Accepts any server certificate (libpq's `prefer` and `require`); signatures are still checked.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub(super) fn tls_config(tls: &Tls) -> Result<rustls::ClientConfig, ProviderError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::failed(format!("TLS setup: {e}")))?;
    if !tls.verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match &tls.root_cert {
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let bad = |e: &dyn std::fmt::Display| {
                ProviderError::failed(format!("sslrootcert {path}: {e}"))
            };
            for c in rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(c.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
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
    fn verify_modes_are_split_off_for_rustls() {
        let (url, tls) =
            split_tls("postgres://h/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x");
        assert_eq!(url, "postgres://h/db?application_name=x&sslmode=require");
        assert_eq!(
            tls,
            Tls {
                verify: true,
                root_cert: Some("/ca.pem".into())
            }
        );
        let (url, tls) = split_tls("host=h sslmode=require");
        assert_eq!(
            (url.as_str(), tls.verify),
            ("host=h sslmode=require", false)
        );
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let cfg = config("postgres://app:s3cret@db.internal:6543/orders").unwrap();
        assert_eq!(describe(&cfg), "db.internal:6543/orders");
        let cfg = config("host=127.0.0.1 port=5544 user=x password=pw dbname=d").unwrap();
        assert_eq!(describe(&cfg), "127.0.0.1:5544/d");
    }
}
