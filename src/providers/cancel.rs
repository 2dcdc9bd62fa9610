//! What a cancelled provider call leaves to finish: a process group that got
//! SIGTERM and must get SIGKILL if it lingers, a PostgreSQL query to cancel
//! on the server. A call's guards register that work here when they are
//! dropped part-way; apply waits for it ([`settle`]) before it exits, so an
//! interrupt never leaves a step running behind cutover's back.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

static PENDING: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

/// How long a process group has between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(3);

/// Runs `work` now, in the background, and remembers it for [`settle`].
pub fn after_cancel(work: impl Future<Output = ()> + Send + 'static) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let handle = rt.spawn(work);
    if let Ok(mut pending) = PENDING.lock() {
        pending.retain(|h| !h.is_finished());
        pending.push(handle);
    }
}

/// Waits, at most `limit`, for the work that cancelled calls left.
pub async fn settle(limit: Duration) {
    let handles: Vec<_> = match PENDING.lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(_) => return,
    };
    let _ = tokio::time::timeout(limit, async {
        for h in handles {
            let _ = h.await;
        }
    })
    .await;
}

/// Sends SIGTERM to process group `pgid`, then SIGKILL if any member is
/// still there after [`TERM_GRACE`].
pub fn terminate_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    after_cancel(async move {
        let deadline = tokio::time::Instant::now() + TERM_GRACE;
        // SAFETY: signal 0 only asks whether the group still has members.
        while unsafe { libc::kill(-pgid, 0) } == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    });
}
