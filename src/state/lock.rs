//! Who holds the lock on a migration's state.

use serde::{Deserialize, Serialize};

/// The holder of a lock, as stored beside the state and shown to whoever is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random id, for `cutover force-unlock ID`.
    pub id: String,
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// "apply", "rollback", "state resolve", …
    pub operation: String,
    /// RFC 3339.
    pub since: String,
}

impl LockInfo {
    /// Holder info for this process.
    pub fn current(operation: &str) -> LockInfo {
        LockInfo {
            id: random_hex(8),
            who: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                // SAFETY: getuid has no preconditions.
                .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() })),
            host: hostname(),
            pid: std::process::id(),
            operation: operation.to_string(),
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

impl LockInfo {
    /// A holder that left no info (it crashed, or is writing it right now).
    pub fn unknown(who: &str) -> LockInfo {
        LockInfo {
            id: "unknown".into(),
            who: who.into(),
            host: "?".into(),
            pid: 0,
            operation: "?".into(),
            since: "?".into(),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {}@{} (pid {}) since {}, lock id {}",
            self.operation, self.who, self.host, self.pid, self.since, self.id
        )
    }
}

/// A held lock; dropping it releases the lock.
pub trait LockGuard: Send {
    fn info(&self) -> &LockInfo;
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or truncates.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `n` random bytes as hex, from the kernel.
pub fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (std::process::id() as u8);
        }
    }
    hex::encode(buf)
}
