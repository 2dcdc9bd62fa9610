//! The S3 backend: the lockfile document as one object, the journal as one
//! object per batch under `KEY.journal/`, and the lock as the object
//! `KEY.lock`, created only if absent (a conditional write, If-None-Match: *)
//! and holding the holder's info. Unlike a session lock, an S3 lock outlives
//! a process that dies: `cutover force-unlock ID` removes it.

use super::backend::{Backend, JournalStore, StateLocker, StateReader, StateWriter};
use super::journal::Record;
use super::lock::{LockGuard, LockInfo};
use super::lockfile::{Lockfile, StateError};
use super::worker::Worker;
use aws_sdk_s3 as s3;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct S3Backend {
    client: s3::Client,
    bucket: String,
    key: String,
    worker: Arc<Worker>,
}

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> StateError + '_ {
    move |e| StateError::Other(format!("{what}: {e}"))
}

fn sdk_err<E, R>(what: String, e: s3::error::SdkError<E, R>) -> StateError
where
    E: s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StateError::Other(crate::providers::aws::config::aws_error(&what, e).to_string())
}

impl S3Backend {
    /// `settings`: `bucket`, `key`, and optionally `region`, `profile`, `endpoint`.
    pub fn new(
        bucket: &str,
        key: &str,
        settings: crate::providers::Attrs,
    ) -> Result<S3Backend, StateError> {
        let worker = Arc::new(Worker::new("cutover-s3-state")?);
        let conf = worker
            .run(async move { crate::providers::aws::config::load(&settings).await })?
            .map_err(err("S3 state backend"))?;
        let client = s3::Client::from_conf(
            s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        Ok(S3Backend {
            client,
            bucket: bucket.into(),
            key: key.into(),
            worker,
        })
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn journal_prefix(&self) -> String {
        format!("{}.journal/", self.key)
    }

    /// The object's text, or `None` when it does not exist.
    fn get(&self, key: String) -> Result<Option<String>, StateError> {
        let (c, bucket) = (self.client.clone(), self.bucket.clone());
        self.worker.run(async move {
            match c.get_object().bucket(&bucket).key(&key).send().await {
                Ok(o) => {
                    let bytes = o
                        .body
                        .collect()
                        .await
                        .map_err(err("reading the state"))?
                        .into_bytes();
                    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(sdk_err(format!("reading s3://{bucket}/{key}"), e)),
            }
        })?
    }

    fn delete(&self, key: String) -> Result<(), StateError> {
        let (c, bucket) = (self.client.clone(), self.bucket.clone());
        self.worker.run(async move {
            c.delete_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err(format!("deleting s3://{bucket}/{key}"), e))
        })?
    }

    fn journal_keys(&self) -> Result<Vec<String>, StateError> {
        let (c, bucket, prefix) = (
            self.client.clone(),
            self.bucket.clone(),
            self.journal_prefix(),
        );
        self.worker.run(async move {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let out = c
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| sdk_err(format!("listing s3://{bucket}/{prefix}"), e))?;
                keys.extend(
                    out.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
                token = out.next_continuation_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            keys.sort();
            Ok(keys)
        })?
    }
}

impl StateReader for S3Backend {
    fn read_document(&self, migration: &str) -> Result<Option<Lockfile>, StateError> {
        let doc = match self.get(self.key.clone())? {
            Some(t) => Some(Lockfile::parse(
                &t,
                &PathBuf::from(format!("s3://{}/{}", self.bucket, self.key)),
                migration,
            )?),
            None => None,
        };
        Ok(doc)
    }
}

impl StateWriter for S3Backend {
    fn write(&self, doc: &Lockfile) -> Result<(), StateError> {
        let (c, bucket, key, body) = (
            self.client.clone(),
            self.bucket.clone(),
            self.key.clone(),
            doc.to_json(),
        );
        self.worker.run(async move {
            c.put_object()
                .bucket(&bucket)
                .key(&key)
                .content_type("application/json")
                .body(body.into_bytes().into())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err(format!("writing s3://{bucket}/{key}"), e))
        })?
    }
}

struct S3Lock {
    info: LockInfo,
    client: s3::Client,
    bucket: String,
    key: String,
    worker: Arc<Worker>,
}

impl LockGuard for S3Lock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        let (c, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        let _ = self
            .worker
            .run(async move { c.delete_object().bucket(&bucket).key(&key).send().await });
    }
}

impl StateLocker for S3Backend {
    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        let deadline = Instant::now() + wait;
        let body = serde_json::to_string_pretty(&info).map_err(err("lock info"))?;
        loop {
            let (c, bucket, key, body) = (
                self.client.clone(),
                self.bucket.clone(),
                self.lock_key(),
                body.clone(),
            );
            let created: bool = self.worker.run(async move {
                match c
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .if_none_match("*")
                    .body(body.into_bytes().into())
                    .send()
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                        Ok(false)
                    }
                    Err(e) => Err(sdk_err(format!("creating the lock s3://{bucket}/{key}"), e)),
                }
            })??;
            if created {
                return Ok(Box::new(S3Lock {
                    info,
                    client: self.client.clone(),
                    bucket: self.bucket.clone(),
                    key: self.lock_key(),
                    worker: Arc::clone(&self.worker),
                }));
            }
            if Instant::now() >= deadline {
                let holder = self
                    .holder()?
                    .unwrap_or_else(|| LockInfo::unknown("another process"));
                return Err(StateError::Locked {
                    holder: Box::new(holder),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self
            .get(self.lock_key())?
            .and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        match self.holder()? {
            Some(h) if h.id == id => self.delete(self.lock_key()),
            Some(h) => Err(StateError::Other(format!(
                "lock id {id} does not match the holder ({h})"
            ))),
            None => Err(StateError::Other("the state is not locked".into())),
        }
    }
}

impl JournalStore for S3Backend {
    fn append(&self, records: &[Record]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let key = format!("{}{nanos:024}-{seq:08}", self.journal_prefix());
        let body: String = records.iter().map(Record::encode).collect();
        let (c, bucket) = (self.client.clone(), self.bucket.clone());
        self.worker.run(async move {
            c.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body.into_bytes().into())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_err(format!("appending s3://{bucket}/{key}"), e))
        })?
    }

    fn journal_text(&self) -> Result<String, StateError> {
        let mut text = String::new();
        for k in self.journal_keys()? {
            if let Some(t) = self.get(k)? {
                text.push_str(&t);
            }
        }
        Ok(text)
    }

    fn clear(&self) -> Result<(), StateError> {
        for k in self.journal_keys()? {
            self.delete(k)?;
        }
        Ok(())
    }
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}
