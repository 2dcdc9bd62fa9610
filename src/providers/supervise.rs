//! How an `exec` step ended, known even when cutover did not live to see it.
//!
//! An exec step's command runs under a small supervisor: cutover's own
//! binary, `cutover __supervise DIR -- ARGV…`. The supervisor records its
//! pid in DIR, runs the command, relays its output to cutover (and, once
//! cutover is gone, drains it, so that the command never dies of a broken
//! pipe), and writes how the command ended — exit code or signal — durably
//! to `DIR/status`. After a crash the next apply reads DIR: a command that
//! exited is done or failed by its real exit status; one still running is
//! waited for; one killed by a signal did not finish, and neither did one
//! whose supervisor vanished without a status: those the operator resolves
//! unless `idempotent` or `done_when` decide.
//!
//! DIR is `.cutover/runs/ADDRESS-RUN` under the migration directory, one per
//! run of a step, made before the step's start is journaled (so that a
//! started step with no DIR ran elsewhere, and one whose DIR has no pid never
//! started its command); making it removes the step's earlier runs.

use super::{Attrs, RunVerdict};
use serde_json::json;
use sha2::Digest;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The hidden subcommand that runs the supervisor.
pub const SUBCOMMAND: &str = "__supervise";

/// Where the runs of the steps of the migration in the current directory are recorded.
const RUNS: &str = ".cutover/runs";

/// How a supervised command ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Exited(i32),
    Signal(i32),
}

fn safe(address: &str) -> String {
    address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The step address inside a run id (`LINEAGE/ADDRESS/STARTED_AT`).
fn address_of(run_id: &str) -> &str {
    let rest = run_id.split_once('/').map(|(_, r)| r).unwrap_or(run_id);
    rest.rsplit_once('/').map(|(a, _)| a).unwrap_or(rest)
}

/// The directory of run `run_id`.
pub fn run_dir(run_id: &str) -> PathBuf {
    let h = hex::encode(&sha2::Sha256::digest(run_id.as_bytes())[..8]);
    std::env::current_dir()
        .unwrap_or_default()
        .join(RUNS)
        .join(format!("{}-{h}", safe(address_of(run_id))))
}

/// Makes a fresh run directory, removing earlier runs of the same step.
pub fn prepare(run_id: &str) -> std::io::Result<PathBuf> {
    let dir = run_dir(run_id);
    let prefix = format!("{}-", safe(address_of(run_id)));
    if let Ok(entries) = std::fs::read_dir(dir.parent().unwrap_or(Path::new(RUNS))) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    Ok(dir)
}

/// The recorded status of the run in `dir`, if the supervisor wrote one.
pub fn status(dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(dir.join("status")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether the supervisor of the run in `dir` is still alive.
fn supervisor_alive(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // The pid must still be this run's supervisor, not a reused number.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    (cmdline.contains(SUBCOMMAND) && cmdline.contains(&*dir.to_string_lossy())).then_some(pid)
}

/// A supervisor of the run in `dir` that has not recorded its pid yet.
fn supervisor_starting(dir: &Path) -> Option<i32> {
    let dir = dir.to_string_lossy();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains(SUBCOMMAND) && cmdline.contains(&*dir)).then_some(pid)
    })
}

/// What the run directory of a step left `started` says about how it ended.
pub fn verdict(run_id: &str) -> RunVerdict {
    let dir = run_dir(run_id);
    if !dir.exists() {
        // Started on another machine, perhaps, or before runs were recorded.
        return RunVerdict::Unknown("no record of its process was found on this machine".into());
    }
    if !dir.join("pid").exists() {
        // The supervisor records its pid before it starts the command; one
        // that is starting right now has not written it yet: look for it,
        // and give it a moment, before concluding the command never started.
        if let Some(pid) = supervisor_starting(&dir) {
            return RunVerdict::Running(format!("its process (pid {pid}) is starting"));
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
        if dir.join("pid").exists() || supervisor_starting(&dir).is_some() {
            return verdict(run_id);
        }
        return RunVerdict::NotCompleted("its command never started".into());
    }
    match status(&dir) {
        Some(Status::Exited(0)) => {
            let mut out = Attrs::new();
            out.insert("exit_code".into(), json!(0));
            // Its output went to the cutover that died: not kept.
            out.insert("stdout".into(), json!(""));
            out.insert("outputs".into(), json!({}));
            RunVerdict::Completed {
                why: "its process exited with status 0 after cutover stopped".into(),
                outputs: out,
            }
        }
        Some(Status::Exited(code)) => RunVerdict::NotCompleted(format!(
            "its process exited with status {code} after cutover stopped: it failed"
        )),
        Some(Status::Signal(sig)) => RunVerdict::Unknown(format!(
            "its process was killed by signal {sig}: it may have done part of its work"
        )),
        None => match supervisor_alive(&dir) {
            Some(pid) => RunVerdict::Running(format!("its process (pid {pid}) is still running")),
            None => RunVerdict::Unknown(
                "its supervisor died without recording how the process ended".into(),
            ),
        },
    }
}

/// Waits until the run is no longer running; its final verdict.
pub async fn wait(run_id: &str) -> RunVerdict {
    loop {
        match verdict(run_id) {
            RunVerdict::Running(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            v => return v,
        }
    }
}

extern "C" fn ignore(_: libc::c_int) {}

/// The supervisor's main: `__supervise DIR -- ARGV…`; returns its exit code.
pub fn main(args: &[String]) -> i32 {
    let (Some(dir), Some(argv)) = (args.first(), args.get(2..)) else {
        eprintln!("usage: cutover {SUBCOMMAND} DIR -- PROGRAM [ARGS…]");
        return 2;
    };
    let Some((prog, rest)) = argv.split_first() else {
        return 2;
    };
    let dir = PathBuf::from(dir);
    // Interrupts are for the command; the supervisor outlives it to record
    // how it ended. A handler, unlike SIG_IGN, is reset for the command by exec.
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that does nothing.
        unsafe {
            libc::signal(sig, ignore as *const () as libc::sighandler_t);
        }
    }
    if write_durably(&dir.join("pid"), std::process::id().to_string().as_bytes()).is_err() {
        return 125;
    }
    let mut child = match std::process::Command::new(prog)
        .args(rest)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start command: {e}");
            let _ = write_status(&dir, &Status::Exited(127));
            return 127;
        }
    };
    let out_relay = child.stdout.take().map(|r| relay(r, std::io::stdout()));
    let err_relay = child.stderr.take().map(|r| relay(r, std::io::stderr()));
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 125,
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let (recorded, code) = match (status.code(), status.signal()) {
        (Some(c), _) => (Status::Exited(c), c),
        (None, Some(s)) => (Status::Signal(s), 128 + s),
        (None, None) => (Status::Exited(125), 125),
    };
    // Recorded as soon as the command ends, before its output is drained
    // (a process it left behind may hold the pipe open).
    if write_status(&dir, &recorded).is_err() {
        return 125;
    }
    for h in [out_relay, err_relay].into_iter().flatten() {
        let _ = h.join();
    }
    code
}

/// Copies `from` to `to` until `from` ends; once `to` is gone (cutover
/// died), keeps reading and drops what it reads.
fn relay(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut open = true;
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if open && to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                        open = false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })
}

fn write_status(dir: &Path, status: &Status) -> std::io::Result<()> {
    let text = serde_json::to_string(status).unwrap_or_default();
    write_durably(&dir.join("status"), text.as_bytes())
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    super::local::write_atomic(path, bytes, Some(0o600))
}
