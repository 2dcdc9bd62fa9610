//! The local backend: `cutover.lock` beside the spec, its journal
//! `cutover.lock.journal`, and an advisory `flock` on `cutover.lock.lock`
//! whose content names the holder. The kernel releases the flock when the
//! process dies, however it dies.

use super::backend::{Backend, JournalStore, StateLocker, StateReader, StateWriter};
use super::journal::Record;
use super::lock::{LockGuard, LockInfo};
use super::lockfile::{Lockfile, StateError, LOCKFILE_NAME};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LocalBackend {
    dir: PathBuf,
    /// The journal, open for appending while this process writes to it.
    journal: Mutex<Option<File>>,
}

impl LocalBackend {
    /// The backend for the migration in `dir`.
    pub fn new(dir: &Path) -> LocalBackend {
        LocalBackend {
            dir: dir.to_path_buf(),
            journal: Mutex::new(None),
        }
    }

    pub fn lockfile_path(&self) -> PathBuf {
        self.dir.join(LOCKFILE_NAME)
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join(format!("{LOCKFILE_NAME}.journal"))
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{LOCKFILE_NAME}.lock"))
    }

    fn io(&self, path: PathBuf) -> impl FnOnce(std::io::Error) -> StateError {
        move |source| StateError::Write { path, source }
    }
}

impl StateReader for LocalBackend {
    fn read_document(&self, migration: &str) -> Result<Option<Lockfile>, StateError> {
        Lockfile::read(&self.lockfile_path(), migration)
    }
}

impl StateWriter for LocalBackend {
    fn write(&self, doc: &Lockfile) -> Result<(), StateError> {
        let path = self.lockfile_path();
        crate::providers::local::write_atomic(&path, doc.to_json().as_bytes(), Some(0o600))
            .map_err(self.io(path))
    }
}

fn flock(f: &File, how: libc::c_int) -> bool {
    // SAFETY: flock on a file descriptor we own.
    unsafe { libc::flock(f.as_raw_fd(), how) == 0 }
}

struct LocalLock {
    file: File,
    info: LockInfo,
}

impl LockGuard for LocalLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.sync_all();
        flock(&self.file, libc::LOCK_UN);
    }
}

fn read_holder(f: &mut File) -> Option<LockInfo> {
    let mut s = String::new();
    f.rewind().ok()?;
    f.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

impl StateLocker for LocalBackend {
    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn LockGuard>, StateError> {
        let path = self.lock_path();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(self.io(path.clone()))?;
        let deadline = Instant::now() + wait;
        while !flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            if Instant::now() >= deadline {
                // The holder writes its info just after taking the lock: give it a moment.
                let mut holder = read_holder(&mut file);
                for _ in 0..20 {
                    if holder.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    holder = read_holder(&mut file);
                }
                let holder = holder.unwrap_or_else(|| LockInfo::unknown("another process"));
                return Err(StateError::Locked {
                    holder: Box::new(holder),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let body = serde_json::to_string_pretty(&info).unwrap_or_default();
        (|| {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(body.as_bytes())?;
            file.sync_all()
        })()
        .map_err(self.io(path))?;
        Ok(Box::new(LocalLock { file, info }))
    }

    fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        let Ok(mut file) = File::open(self.lock_path()) else {
            return Ok(None);
        };
        if flock(&file, libc::LOCK_SH | libc::LOCK_NB) {
            flock(&file, libc::LOCK_UN);
            return Ok(None);
        }
        Ok(read_holder(&mut file))
    }

    fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        let path = self.lock_path();
        let Ok(mut file) = OpenOptions::new().read(true).write(true).open(&path) else {
            return Err(StateError::Other("the state is not locked".into()));
        };
        let holder = read_holder(&mut file);
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            return Err(StateError::Other(match holder {
                Some(h) => format!(
                    "the lock is held by a live process: {h}. A local lock is released by the kernel when its process ends; stop that process instead"
                ),
                None => "the lock is held by a live process".into(),
            }));
        }
        match holder {
            Some(h) if h.id == id => {
                file.set_len(0).map_err(self.io(path))?;
                flock(&file, libc::LOCK_UN);
                Ok(())
            }
            Some(h) => Err(StateError::Other(format!(
                "lock id {id} does not match the recorded holder ({h})"
            ))),
            None => Err(StateError::Other("the state is not locked".into())),
        }
    }
}

impl JournalStore for LocalBackend {
    fn append(&self, records: &[Record]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        let path = self.journal_path();
        let mut guard = self
            .journal
            .lock()
            .map_err(|_| StateError::Other("journal lock poisoned".into()))?;
        if guard.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(self.io(path.clone()))?;
            // The journal's directory entry must be durable too.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            *guard = Some(f);
        }
        let f = guard.as_mut().expect("opened above");
        let mut buf = String::new();
        for r in records {
            buf.push_str(&r.encode());
        }
        f.write_all(buf.as_bytes()).map_err(self.io(path.clone()))?;
        f.sync_data().map_err(self.io(path))
    }

    fn journal_text(&self) -> Result<String, StateError> {
        match std::fs::read_to_string(self.journal_path()) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(source) => Err(StateError::Io {
                path: self.journal_path(),
                source,
            }),
        }
    }

    fn clear(&self) -> Result<(), StateError> {
        let mut guard = self
            .journal
            .lock()
            .map_err(|_| StateError::Other("journal lock poisoned".into()))?;
        *guard = None;
        match std::fs::remove_file(self.journal_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StateError::Write {
                    path: self.journal_path(),
                    source,
                })
            }
        }
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.lockfile_path().display().to_string()
    }

    fn journal_name(&self) -> String {
        self.journal_path().display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_backend_passes_the_conformance_suite() {
        crate::state::conformance::run(|| {
            let dir = tempfile::tempdir().unwrap();
            let b = LocalBackend::new(dir.path());
            (b, dir)
        });
    }
}
