//! The Kubernetes backend: the lockfile document and the journal in a
//! ConfigMap (`cutover-state-KEY`, keys `lockfile` and `journal-NNNNNNNN`,
//! written with optimistic concurrency), and the lock as a
//! `coordination.k8s.io/v1` Lease (`cutover-lock-KEY`) whose holder renews it
//! while it runs. A holder that dies stops renewing: once the lease duration
//! has passed, the next apply takes the lock without any force-unlock.

use super::backend::{Backend, JournalStore, StateLocker, StateReader, StateWriter};
use super::journal::Record;
use super::lock::{LockGuard, LockInfo};
use super::lockfile::{Lockfile, StateError};
use super::worker::Worker;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct KubeBackend {
    client: kube::Client,
    namespace: String,
    key: String,
    lease_seconds: i32,
    worker: Arc<Worker>,
}

fn err(what: impl std::fmt::Display) -> impl Fn(kube::Error) -> StateError {
    move |e| StateError::Other(format!("{what}: {e}"))
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

const INFO: &str = "cutover.dev/holder";

/// A ConfigMap's data and its resource version.
type Versioned = (BTreeMap<String, String>, Option<String>);

impl KubeBackend {
    /// `settings`: `config_path`, `context` (as for the provider).
    pub fn new(
        namespace: &str,
        key: &str,
        lease_seconds: i32,
        settings: crate::providers::Attrs,
    ) -> Result<KubeBackend, StateError> {
        let worker = Arc::new(Worker::new("cutover-kube-state")?);
        let client = worker
            .run(async move {
                let p = crate::providers::kubernetes::KubernetesProvider::new(settings);
                p.connect().await.cloned()
            })?
            .map_err(|e| StateError::Other(format!("Kubernetes state backend: {e}")))?;
        let name: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        Ok(KubeBackend {
            client,
            namespace: namespace.into(),
            key: name,
            lease_seconds: lease_seconds.max(1),
            worker,
        })
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn state_name(&self) -> String {
        format!("cutover-state-{}", self.key)
    }

    fn lease_name(&self) -> String {
        format!("cutover-lock-{}", self.key)
    }

    /// The state ConfigMap's data and resource version, if it exists.
    fn data(&self) -> Result<Option<Versioned>, StateError> {
        let (api, name) = (self.config_maps(), self.state_name());
        let got = self
            .worker
            .run(async move { api.get_opt(&name).await })?
            .map_err(err("reading the state ConfigMap"))?;
        Ok(got.map(|cm| (cm.data.unwrap_or_default(), cm.metadata.resource_version)))
    }

    /// Read-modify-write of the state ConfigMap, retried on conflicts.
    fn update(&self, change: impl Fn(&mut BTreeMap<String, String>)) -> Result<(), StateError> {
        for _ in 0..20 {
            let (mut data, version) = self.data()?.unwrap_or_default();
            change(&mut data);
            let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                "metadata": { "name": self.state_name(), "namespace": self.namespace, "resourceVersion": version },
                "data": data,
            }))
            .map_err(|e| StateError::Other(e.to_string()))?;
            let (api, name, create) = (self.config_maps(), self.state_name(), version.is_none());
            let r = self.worker.run(async move {
                if create {
                    api.create(&PostParams::default(), &cm).await.map(|_| ())
                } else {
                    api.replace(&name, &PostParams::default(), &cm)
                        .await
                        .map(|_| ())
                }
            })?;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if is_status(&e, 409) => continue,
                Err(e) => return Err(err("writing the state ConfigMap")(e)),
            }
        }
        Err(StateError::Other(
            "the state ConfigMap kept changing under this write".into(),
        ))
    }
}

impl StateReader for KubeBackend {
    fn read_document(&self, migration: &str) -> Result<Option<Lockfile>, StateError> {
        let doc = match self.data()?.and_then(|(d, _)| d.get("lockfile").cloned()) {
            Some(t) => Some(Lockfile::parse(
                &t,
                &PathBuf::from(format!("configmap/{}", self.state_name())),
                migration,
            )?),
            None => None,
        };
        Ok(doc)
    }
}

impl StateWriter for KubeBackend {
    fn write(&self, doc: &Lockfile) -> Result<(), StateError> {
        let text = doc.to_json();
        self.update(|d| {
            d.insert("lockfile".into(), text.clone());
        })
    }
}

impl JournalStore for KubeBackend {
    fn append(&self, records: &[Record]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        let body: String = records.iter().map(Record::encode).collect();
        self.update(|d| {
            let next = d.keys().filter(|k| k.starts_with("journal-")).count();
            d.insert(format!("journal-{next:08}"), body.clone());
        })
    }

    fn journal_text(&self) -> Result<String, StateError> {
        let text: String = self
            .data()?
            .map(|(d, _)| {
                d.into_iter()
                    .filter(|(k, _)| k.starts_with("journal-"))
                    .map(|(_, v)| v)
                    .collect()
            })
            .unwrap_or_default();
        Ok(text)
    }

    fn clear(&self) -> Result<(), StateError> {
        self.update(|d| d.retain(|k, _| !k.starts_with("journal-")))
    }
}

struct KubeLock {
    info: LockInfo,
    stop: Arc<AtomicBool>,
    leases: Api<Lease>,
    name: String,
    worker: Arc<Worker>,
}

impl LockGuard for KubeLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for KubeLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let (api, name) = (self.leases.clone(), self.name.clone());
        let _ = self
            .worker
            .run(async move { api.delete(&name, &DeleteParams::default()).await });
    }
}

fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl KubeBackend {
    fn lease(&self, info: &LockInfo, version: Option<String>) -> Result<Lease, StateError> {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": self.lease_name(),
                "namespace": self.namespace,
                "resourceVersion": version,
                "annotations": { INFO: serde_json::to_string(info).unwrap_or_default() },
            },
            "spec": {
                "holderIdentity": info.id,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": now(),
                "renewTime": now(),
            }
        }))
        .map_err(|e| StateError::Other(e.to_string()))
    }

    /// The lease and whether it is still alive.
    fn current(&self) -> Result<Option<(Lease, bool)>, StateError> {
        let (api, name) = (self.leases(), self.lease_name());
        let lease = self
            .worker
            .run(async move { api.get_opt(&name).await })?
            .map_err(err("reading the lock Lease"))?;
        Ok(lease.map(|l| {
            let spec = l.spec.clone().unwrap_or_default();
            let alive = match (spec.holder_identity.as_deref(), spec.renew_time.as_ref()) {
                (Some(h), Some(t)) if !h.is_empty() => {
                    let age = k8s_openapi::jiff::Timestamp::now().duration_since(t.0);
                    age.as_secs_f64()
                        < f64::from(spec.lease_duration_seconds.unwrap_or(self.lease_seconds))
                }
                _ => false,
            };
            (l, alive)
        }))
    }

    fn holder_of(lease: &Lease) -> Option<LockInfo> {
        lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INFO))
            .and_then(|s| serde_json::from_str(s).ok())
    }

    /// Renews the lease every third of its duration until `stop`; the requests
    /// run on the backend's worker, where the client lives.
    fn renew_forever(&self, stop: Arc<AtomicBool>) {
        let (api, name, worker) = (self.leases(), self.lease_name(), Arc::clone(&self.worker));
        let period = Duration::from_secs_f64(f64::from(self.lease_seconds) / 3.0);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(period);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (api, name) = (api.clone(), name.clone());
                let patch = serde_json::json!({ "spec": { "renewTime": now() } });
                let _ = worker.run(async move {
                    api.patch(
                        &name,
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await
                });
            }
        });
    }
}

impl StateLocker for KubeBackend {
    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        let deadline = Instant::now() + wait;
        loop {
            let current = self.current()?;
            let (version, holder) = match &current {
                None => (None, None),
                Some((l, true)) => (
                    None,
                    Some(
                        Self::holder_of(l).unwrap_or_else(|| LockInfo::unknown("another process")),
                    ),
                ),
                Some((l, false)) => (l.metadata.resource_version.clone(), None),
            };
            if holder.is_none() {
                let lease = self.lease(&info, version.clone())?;
                let (api, name, create) = (self.leases(), self.lease_name(), version.is_none());
                let r = self.worker.run(async move {
                    if create {
                        api.create(&PostParams::default(), &lease).await.map(|_| ())
                    } else {
                        api.replace(&name, &PostParams::default(), &lease)
                            .await
                            .map(|_| ())
                    }
                })?;
                match r {
                    Ok(()) => {
                        let stop = Arc::new(AtomicBool::new(false));
                        self.renew_forever(Arc::clone(&stop));
                        return Ok(Box::new(KubeLock {
                            info,
                            stop,
                            leases: self.leases(),
                            name: self.lease_name(),
                            worker: Arc::clone(&self.worker),
                        }));
                    }
                    Err(e) if is_status(&e, 409) => {}
                    Err(e) => return Err(err("taking the lock Lease")(e)),
                }
            }
            if Instant::now() >= deadline {
                let holder = match holder {
                    Some(h) => h,
                    None => self
                        .holder()?
                        .unwrap_or_else(|| LockInfo::unknown("another process")),
                };
                return Err(StateError::Locked {
                    holder: Box::new(holder),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(match self.current()? {
            Some((l, true)) => {
                Some(Self::holder_of(&l).unwrap_or_else(|| LockInfo::unknown("another process")))
            }
            _ => None,
        })
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        match self.current()? {
            Some((l, _)) if Self::holder_of(&l).is_some_and(|h| h.id == id) => {
                let (api, name) = (self.leases(), self.lease_name());
                self.worker
                    .run(async move { api.delete(&name, &DeleteParams::default()).await })?
                    .map(|_| ())
                    .map_err(err("deleting the lock Lease"))
            }
            Some((l, true)) => Err(StateError::Other(format!(
                "lock id {id} does not match the holder ({})",
                Self::holder_of(&l)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ))),
            _ => Err(StateError::Other(
                "the state is not locked (an expired Lease needs no unlocking)".into(),
            )),
        }
    }
}

impl Backend for KubeBackend {
    fn describe(&self) -> String {
        format!("configmap {}/{}", self.namespace, self.state_name())
    }
}
