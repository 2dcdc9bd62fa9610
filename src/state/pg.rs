//! The PostgreSQL backend: the lockfile document in a table, the journal in
//! another, and the lock as a session-level advisory lock — released by the
//! server when the holding session ends, however the process died (unlike
//! lock rows, which stay behind after a crash).
//!
//! Tables (created when missing): `cutover_state (key, document, serial)`,
//! `cutover_journal (id, key, record)`, `cutover_lock (key, info)`.
//! Each session runs on its own thread with its own small runtime, so the
//! synchronous backend traits can be called from anywhere, async code included.

use super::backend::{Backend, JournalStore, StateLocker, StateReader, StateWriter};
use super::journal::Record;
use super::lock::{LockGuard, LockInfo};
use super::lockfile::{Lockfile, StateError};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

type Task = Box<dyn FnOnce(Arc<Client>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One database session on its own thread; dropping it closes the session.
struct Session {
    tasks: std::sync::mpsc::Sender<Task>,
}

fn err(e: impl std::fmt::Display) -> StateError {
    StateError::Other(e.to_string())
}

impl Session {
    fn open(url: &str) -> Result<Session, StateError> {
        let (tasks, inbox) = std::sync::mpsc::channel::<Task>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("cutover-pg-state".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    match crate::providers::postgres::connect::connect(&url).await {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                        Ok(client) => {
                            let _ = ready_tx.send(Ok(()));
                            let client = Arc::new(client);
                            while let Ok(task) = inbox.recv() {
                                task(Arc::clone(&client)).await;
                            }
                        }
                    }
                });
            })
            .map_err(err)?;
        ready_rx
            .recv()
            .map_err(err)?
            .map_err(|e| StateError::Other(format!("state backend: {e}")))?;
        Ok(Session { tasks })
    }

    fn call<T, F, Fut>(&self, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let task: Task = Box::new(move |c| {
            Box::pin(async move {
                let _ = tx.send(f(c).await);
            })
        });
        self.tasks
            .send(task)
            .map_err(|_| err("the state backend's session has ended"))?;
        rx.recv()
            .map_err(|_| err("the state backend's session has ended"))?
            .map_err(|e| {
                StateError::Other(format!(
                    "state backend: {}",
                    crate::providers::postgres::connect::pg_error(&e, None)
                ))
            })
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS cutover_state (key text PRIMARY KEY, document text NOT NULL, serial bigint NOT NULL);
CREATE TABLE IF NOT EXISTS cutover_journal (id bigserial PRIMARY KEY, key text NOT NULL, record text NOT NULL);
CREATE INDEX IF NOT EXISTS cutover_journal_key ON cutover_journal (key, id);
CREATE TABLE IF NOT EXISTS cutover_lock (key text PRIMARY KEY, info text NOT NULL);";

/// The backend for one migration (`key`) in one database.
pub struct PgBackend {
    url: String,
    key: String,
    session: Session,
}

impl PgBackend {
    pub fn new(url: &str, key: &str) -> Result<PgBackend, StateError> {
        let session = Session::open(url)?;
        // Concurrent first uses race on CREATE TABLE IF NOT EXISTS: serialise them.
        session
            .call(|c| async move {
                c.batch_execute(&format!(
                    "SELECT pg_advisory_xact_lock(hashtext('cutover schema')); {SCHEMA}"
                ))
                .await
            })
            .or_else(|_| session.call(|c| async move { c.batch_execute(SCHEMA).await }))?;
        Ok(PgBackend {
            url: url.to_string(),
            key: key.to_string(),
            session,
        })
    }

    fn lock_key(&self) -> String {
        format!("cutover state {}", self.key)
    }
}

impl StateReader for PgBackend {
    fn read_document(&self, migration: &str) -> Result<Option<Lockfile>, StateError> {
        let key = self.key.clone();
        let text: Option<String> = self.session.call(move |c| async move {
            let row = c
                .query_opt("SELECT document FROM cutover_state WHERE key = $1", &[&key])
                .await?;
            Ok(row.map(|r| r.get(0)))
        })?;
        let doc = match text {
            Some(t) => Some(Lockfile::parse(
                &t,
                &PathBuf::from(format!("pg:{}", self.key)),
                migration,
            )?),
            None => None,
        };
        Ok(doc)
    }
}

impl StateWriter for PgBackend {
    fn write(&self, doc: &Lockfile) -> Result<(), StateError> {
        let (key, text, serial) = (self.key.clone(), doc.to_json(), doc.serial as i64);
        self.session.call(move |c| async move {
            c.execute(
                "INSERT INTO cutover_state (key, document, serial) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET document = EXCLUDED.document, serial = EXCLUDED.serial",
                &[&key, &text, &serial],
            )
            .await
            .map(|_| ())
        })
    }
}

struct PgLock {
    info: LockInfo,
    session: Session,
    key: String,
    lock_key: String,
}

impl LockGuard for PgLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for PgLock {
    fn drop(&mut self) {
        let (key, lock_key) = (self.key.clone(), self.lock_key.clone());
        let _ = self.session.call(move |c| async move {
            c.execute("DELETE FROM cutover_lock WHERE key = $1", &[&key])
                .await?;
            c.query_one(
                "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                &[&lock_key],
            )
            .await
            .map(|_| ())
        });
        // Dropping the session closes it, which releases the lock in any case.
    }
}

impl PgBackend {
    fn stored_holder(&self) -> Result<Option<LockInfo>, StateError> {
        let key = self.key.clone();
        let info: Option<String> = self.session.call(move |c| async move {
            Ok(
                c.query_opt("SELECT info FROM cutover_lock WHERE key = $1", &[&key])
                    .await?
                    .map(|r| r.get(0)),
            )
        })?;
        Ok(info.and_then(|i| serde_json::from_str(&i).ok()))
    }

    /// The server pid of the session holding the advisory lock, if any.
    fn holding_pid(&self) -> Result<Option<i32>, StateError> {
        let lock_key = self.lock_key();
        self.session.call(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0) AND l.objsubid = 1",
                    &[&lock_key],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }
}

impl StateLocker for PgBackend {
    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        let session = Session::open(&self.url)?;
        let deadline = Instant::now() + wait;
        loop {
            let lock_key = self.lock_key();
            let got: bool = session.call(move |c| async move {
                Ok(c.query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    &[&lock_key],
                )
                .await?
                .get(0))
            })?;
            if got {
                break;
            }
            if Instant::now() >= deadline {
                // The holder writes its info just after taking the lock: give it a moment.
                let mut holder = self.stored_holder()?;
                for _ in 0..20 {
                    if holder.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    holder = self.stored_holder()?;
                }
                let holder = holder.unwrap_or_else(|| LockInfo::unknown("another session"));
                return Err(StateError::Locked {
                    holder: Box::new(holder),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (key, text) = (self.key.clone(), serde_json::to_string(&info).map_err(err)?);
        session.call(move |c| async move {
            c.execute(
                "INSERT INTO cutover_lock (key, info) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET info = EXCLUDED.info",
                &[&key, &text],
            )
            .await
            .map(|_| ())
        })?;
        Ok(Box::new(PgLock {
            info,
            session,
            key: self.key.clone(),
            lock_key: self.lock_key(),
        }))
    }

    fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        if self.holding_pid()?.is_none() {
            return Ok(None);
        }
        self.stored_holder()
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        let holder = self.stored_holder()?;
        let pid = self.holding_pid()?;
        match (holder, pid) {
            (Some(h), Some(pid)) if h.id == id => {
                // The holder's session still exists (a hung process): end it, which releases the lock.
                let key = self.key.clone();
                self.session.call(move |c| async move {
                    c.query_one("SELECT pg_terminate_backend($1)", &[&pid])
                        .await?;
                    c.execute("DELETE FROM cutover_lock WHERE key = $1", &[&key])
                        .await
                        .map(|_| ())
                })
            }
            (Some(h), Some(_)) => Err(StateError::Other(format!(
                "lock id {id} does not match the holder ({h})"
            ))),
            (_, None) => Err(StateError::Other(
                "the state is not locked (a PostgreSQL advisory lock ends with its session)".into(),
            )),
            (None, Some(_)) => Err(StateError::Other(
                "the lock is held, but its holder recorded no id".into(),
            )),
        }
    }
}

impl JournalStore for PgBackend {
    fn append(&self, records: &[Record]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        let key = self.key.clone();
        let lines: Vec<String> = records.iter().map(|r| r.encode()).collect();
        self.session.call(move |c| async move {
            // One statement: the whole batch commits at once.
            c.execute(
                "INSERT INTO cutover_journal (key, record) SELECT $1, unnest($2::text[])",
                &[&key, &lines],
            )
            .await
            .map(|_| ())
        })
    }

    fn journal_text(&self) -> Result<String, StateError> {
        let key = self.key.clone();
        let lines: Vec<String> = self.session.call(move |c| async move {
            Ok(c.query(
                "SELECT record FROM cutover_journal WHERE key = $1 ORDER BY id",
                &[&key],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })?;
        Ok(lines.concat())
    }

    fn clear(&self) -> Result<(), StateError> {
        let key = self.key.clone();
        self.session.call(move |c| async move {
            c.execute("DELETE FROM cutover_journal WHERE key = $1", &[&key])
                .await
                .map(|_| ())
        })
    }
}

impl Backend for PgBackend {
    fn describe(&self) -> String {
        let at = crate::providers::postgres::connect::config(
            &crate::providers::postgres::connect::split_tls(&self.url).0,
        )
        .map(|c| crate::providers::postgres::connect::describe(&c))
        .unwrap_or_default();
        format!("pg://{at} (key {})", self.key)
    }
}
