//! The `local` provider: commands, waits and files on this machine.
//!
//! Types: `step "exec"`, `step "wait"`, `gate "exec"`, `resource "local_file"`,
//! `data "local_file"`. Commands run in their own process group, which is
//! killed when the call is dropped (timeout, cancellation).

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{Attrs, CheckOutcome, Provider, ProviderError, RunVerdict};
use crate::eval::duration;
use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::path::Path;

pub struct LocalProvider;

fn command_attrs() -> Vec<AttrSchema> {
    use AttrType::*;
    vec![
        AttrSchema::new("command", StringList),
        AttrSchema::new("shell", String),
        AttrSchema::new("env", StringMap),
        AttrSchema::new("dir", String),
    ]
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        use AttrType::*;
        let one_of: &'static [&'static str] = &["command", "shell"];
        vec![
            TypeSchema {
                kind: NodeKind::Step,
                type_name: "exec",
                attrs: command_attrs(),
                exactly_one_of: vec![one_of],
                outputs: vec!["stdout", "exit_code", "outputs"],
                sensitive_outputs: vec![],
                rollback: Some(command_attrs()),
            },
            TypeSchema {
                kind: NodeKind::Step,
                type_name: "wait",
                attrs: vec![AttrSchema::new("duration", Duration).required()],
                exactly_one_of: vec![],
                outputs: vec![],
                sensitive_outputs: vec![],
                rollback: None,
            },
            TypeSchema {
                kind: NodeKind::Gate,
                type_name: "exec",
                attrs: {
                    let mut a = command_attrs();
                    a.push(AttrSchema::new("expect_exit", Number));
                    a
                },
                exactly_one_of: vec![one_of],
                outputs: vec![],
                sensitive_outputs: vec![],
                rollback: None,
            },
            TypeSchema::new(
                NodeKind::Gate,
                "window",
                vec![AttrSchema::new("window", Window).required()],
                vec![],
            ),
            TypeSchema {
                kind: NodeKind::Resource,
                type_name: "local_file",
                attrs: vec![
                    AttrSchema::new("path", String).identity(),
                    AttrSchema::new("content", String).required(),
                    AttrSchema::new("mode", FileMode),
                ],
                exactly_one_of: vec![],
                outputs: vec![],
                sensitive_outputs: vec![],
                rollback: None,
            },
            TypeSchema {
                kind: NodeKind::Data,
                type_name: "local_file",
                attrs: vec![AttrSchema::new("path", String).identity()],
                exactly_one_of: vec![],
                outputs: vec!["content", "exists"],
                sensitive_outputs: vec![],
                rollback: None,
            },
        ]
    }

    async fn read(
        &self,
        kind: NodeKind,
        type_name: &str,
        attrs: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        match (kind, type_name) {
            (NodeKind::Resource, "local_file") => read_file(str_attr(attrs, "path")?),
            (NodeKind::Data, "local_file") => {
                let path = str_attr(attrs, "path")?;
                let found = read_file(path)?;
                let mut out = Attrs::new();
                out.insert("path".into(), json!(path));
                out.insert("exists".into(), json!(found.is_some()));
                out.insert(
                    "content".into(),
                    found
                        .and_then(|f| f.get("content").cloned())
                        .unwrap_or(Value::Null),
                );
                Ok(Some(out))
            }
            _ => Err(self.unsupported("read of", type_name)),
        }
    }

    fn reads_many(&self, type_name: &str) -> bool {
        type_name == "local_file"
    }

    /// Files are read in one go: a task each cost more than the read.
    async fn read_many(
        &self,
        kind: NodeKind,
        type_name: &str,
        items: &[Attrs],
    ) -> Vec<Option<Result<Option<Attrs>, ProviderError>>> {
        items
            .iter()
            .map(|attrs| match (kind, type_name) {
                (NodeKind::Resource, "local_file") => {
                    Some(str_attr(attrs, "path").and_then(read_file))
                }
                _ => None,
            })
            .collect()
    }

    async fn apply(
        &self,
        type_name: &str,
        desired: Option<&Attrs>,
        identity: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        if type_name != "local_file" {
            return Err(self.unsupported("resource", type_name));
        }
        let path = str_attr(identity, "path")?;
        match desired {
            None => match std::fs::remove_file(path) {
                Ok(()) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(ProviderError::failed(format!("removing {path}: {e}"))),
            },
            Some(d) => {
                let content = d.get("content").and_then(Value::as_str).unwrap_or_default();
                let mode = match d.get("mode").and_then(Value::as_str) {
                    Some(m) => Some(parse_mode(m)?),
                    None => None,
                };
                write_atomic(Path::new(path), content.as_bytes(), mode)
                    .map_err(|e| ProviderError::failed(format!("writing {path}: {e}")))?;
                read_file(path)
            }
        }
    }

    async fn run_step(&self, type_name: &str, attrs: &Attrs) -> Result<Attrs, ProviderError> {
        match type_name {
            "exec" => {
                let out = run_command(attrs).await?;
                if out.exit_code != 0 {
                    return Err(ProviderError::failed(format!(
                        "command exited with status {}{}",
                        out.exit_code,
                        tail(&out.stderr)
                    )));
                }
                Ok(out.into_outputs())
            }
            "wait" => {
                let d =
                    duration::parse(str_attr(attrs, "duration")?).map_err(ProviderError::Failed)?;
                tokio::time::sleep(d).await;
                Ok(Attrs::new())
            }
            other => Err(self.unsupported("step", other)),
        }
    }

    async fn check(&self, type_name: &str, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        if type_name == "window" {
            return window_check(str_attr(attrs, "window")?, chrono::Utc::now());
        }
        if type_name != "exec" {
            return Err(self.unsupported("gate", type_name));
        }
        let expect = attrs
            .get("expect_exit")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let out = run_command(attrs).await?;
        let first_line = out.stdout.lines().next().unwrap_or("").trim();
        Ok(CheckOutcome {
            value: None,
            limits: Vec::new(),
            holds: i64::from(out.exit_code) == expect,
            measured: if first_line.is_empty() {
                format!("exit {} (want {expect})", out.exit_code)
            } else {
                format!(
                    "exit {} (want {expect}): {}",
                    out.exit_code,
                    truncate(first_line, 120)
                )
            },
        })
    }

    fn prepare_run(&self, type_name: &str, run_id: &str) -> Result<(), ProviderError> {
        if type_name == "exec" {
            super::supervise::prepare(run_id)
                .map_err(|e| ProviderError::failed(format!("cannot record the step's run: {e}")))?;
        }
        Ok(())
    }

    async fn interrupted(
        &self,
        type_name: &str,
        _attrs: &Attrs,
        run_id: &str,
    ) -> Result<RunVerdict, ProviderError> {
        Ok(match type_name {
            "exec" => super::supervise::verdict(run_id),
            // A wait has no effect to lose.
            "wait" => RunVerdict::NotCompleted("a wait has no effects".into()),
            _ => RunVerdict::Unknown("the provider cannot tell".into()),
        })
    }

    async fn await_run(
        &self,
        type_name: &str,
        attrs: &Attrs,
        run_id: &str,
    ) -> Result<RunVerdict, ProviderError> {
        match type_name {
            "exec" => Ok(super::supervise::wait(run_id).await),
            _ => self.interrupted(type_name, attrs, run_id).await,
        }
    }

    fn repeats(&self, type_name: &str) -> bool {
        type_name == "exec"
    }

    async fn measure(
        &self,
        type_name: &str,
        attrs: &Attrs,
        probe: &Value,
    ) -> Result<f64, ProviderError> {
        if type_name != "exec" {
            return Err(self.unsupported("remaining of", type_name));
        }
        let out = run_command(&probe_attrs(attrs, probe)?).await?;
        out.stdout.trim().parse::<f64>().map_err(|_| {
            ProviderError::failed(format!(
                "remaining printed {:?}, not a number",
                truncate(out.stdout.trim(), 40)
            ))
        })
    }

    async fn step_done(
        &self,
        type_name: &str,
        attrs: &Attrs,
        done_when: &Value,
    ) -> Result<CheckOutcome, ProviderError> {
        if type_name != "exec" {
            return Err(self.unsupported("done_when on step", type_name));
        }
        let out = run_command(&probe_attrs(attrs, done_when)?).await?;
        Ok(CheckOutcome {
            value: None,
            limits: Vec::new(),
            holds: out.exit_code == 0,
            measured: format!("done_when exited {}", out.exit_code),
        })
    }
}

/// A command a step names besides its own (`done_when`, `until`,
/// `remaining`): a shell string or an argv list, run where the step runs.
fn probe_attrs(attrs: &Attrs, command: &Value) -> Result<Attrs, ProviderError> {
    let mut probe = Attrs::new();
    match command {
        Value::String(s) => probe.insert("shell".into(), json!(s)),
        Value::Array(_) => probe.insert("command".into(), command.clone()),
        _ => {
            return Err(ProviderError::failed(
                "expected a shell string or an argv list",
            ))
        }
    };
    for k in ["env", "dir"] {
        if let Some(v) = attrs.get(k) {
            probe.insert(k.into(), v.clone());
        }
    }
    Ok(probe)
}

impl LocalProvider {
    fn unsupported(&self, kind: &'static str, type_name: &str) -> ProviderError {
        ProviderError::unsupported("local", kind, type_name)
    }
}

fn str_attr<'a>(attrs: &'a Attrs, name: &str) -> Result<&'a str, ProviderError> {
    attrs
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed(format!("`{name}` must be a string")))
}

fn read_file(path: &str) -> Result<Option<Attrs>, ProviderError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::read(path) {
        Ok(bytes) => {
            let meta = std::fs::metadata(path)
                .map_err(|e| ProviderError::failed(format!("{path}: {e}")))?;
            let mode = format!("{:04o}", meta.permissions().mode() & 0o7777);
            Ok(Some(Attrs::from_iter([
                ("path".into(), json!(path)),
                ("content".into(), json!(String::from_utf8_lossy(&bytes))),
                ("mode".into(), json!(mode)),
            ])))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProviderError::failed(format!("reading {path}: {e}"))),
    }
}

fn parse_mode(m: &str) -> Result<u32, ProviderError> {
    super::schema::parse_file_mode(m).ok_or_else(|| {
        ProviderError::failed(format!(
            "mode \"{m}\" is not an octal file mode such as \"0644\""
        ))
    })
}

/// Writes a file atomically: temp file in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Some(m) = mode {
            f.set_permissions(std::fs::Permissions::from_mode(m))?;
        } else if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What a command printed and how it ended.
pub struct CommandOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl CommandOutput {
    fn into_outputs(self) -> Attrs {
        let parsed = match serde_json::from_str::<Value>(self.stdout.trim()) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        };
        let mut a = Attrs::new();
        a.insert("stdout".into(), json!(self.stdout));
        a.insert("exit_code".into(), json!(self.exit_code));
        a.insert("outputs".into(), parsed);
        a
    }
}

/// Ends a child's whole process group when dropped before the child was
/// reaped (timeout, cancellation): SIGTERM, then SIGKILL if it lingers.
struct GroupGuard {
    pgid: Option<i32>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            super::cancel::terminate_group(pgid);
        }
    }
}

/// The argv of `command` (a list) or `shell` (run by `sh -c`).
fn argv(attrs: &Attrs) -> Result<Vec<String>, ProviderError> {
    match (attrs.get("command"), attrs.get("shell")) {
        (Some(Value::Array(argv)), _) if !argv.is_empty() => {
            Ok(argv.iter().map(scalar_string).collect())
        }
        (Some(Value::Array(_)), _) => Err(ProviderError::failed("`command` is an empty list")),
        (_, Some(Value::String(s))) => Ok(vec!["sh".into(), "-c".into(), s.clone()]),
        _ => Err(ProviderError::failed(
            "needs `command` (a list) or `shell` (a string)",
        )),
    }
}

/// Runs `command` (argv) or `shell` (via `sh -c`) with `env` and `dir`. A
/// step's run (its attributes carry a run id) runs under a supervisor that
/// records how it ended, for the next apply if cutover dies meanwhile.
pub async fn run_command(attrs: &Attrs) -> Result<CommandOutput, ProviderError> {
    let mut argv = argv(attrs)?;
    let mut supervised = None;
    // cutover's own binary supervises; if it was replaced while this apply
    // runs (an upgrade), the step runs unsupervised, as before supervisors.
    let exe = std::env::current_exe().ok().filter(|e| e.exists());
    let run = attrs.get(super::RUN_ID).and_then(Value::as_str);
    if let (Some(run), None) = (run, &exe) {
        // No supervisor will say how it ended: a crash leaves it unknown, never "not started".
        let _ = write_atomic(
            &super::supervise::run_dir(run).join("pid"),
            b"unsupervised",
            Some(0o600),
        );
    }
    if let (Some(run), Some(exe)) = (run, exe) {
        let dir = super::supervise::run_dir(run);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ProviderError::failed(format!("cannot record the step's run: {e}")))?;
        let mut wrapped = vec![
            exe.display().to_string(),
            super::supervise::SUBCOMMAND.into(),
            dir.display().to_string(),
            "--".into(),
        ];
        wrapped.append(&mut argv);
        argv = wrapped;
        supervised = Some(dir);
    }
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if let Some(Value::Object(env)) = attrs.get("env") {
        for (k, v) in env {
            cmd.env(k, scalar_string(v));
        }
    }
    if let Some(Value::String(dir)) = attrs.get("dir") {
        cmd.current_dir(dir);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| ProviderError::failed(format!("cannot start command: {e}")))?;
    let mut guard = GroupGuard {
        pgid: child.id().map(|p| p as i32),
    };
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| ProviderError::failed(format!("waiting for command: {e}")))?;
    guard.pgid = None;
    // The supervisor's own exit code mirrors the command's; its record says how exactly.
    let exit_code = match supervised.as_deref().and_then(super::supervise::status) {
        Some(super::supervise::Status::Exited(c)) => c,
        Some(super::supervise::Status::Signal(s)) => 128 + s,
        None => out.status.code().unwrap_or(-1),
    };
    Ok(CommandOutput {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_code,
    })
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(5);
    format!(": {}", lines[start..].join("\n"))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The `window` gate: holds while `now` is inside the window.
fn window_check(
    spec: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<CheckOutcome, ProviderError> {
    use crate::eval::window::{parse, Position};
    let w = parse(spec).map_err(ProviderError::Failed)?;
    let until = |t: chrono::DateTime<chrono::FixedOffset>| {
        let left = (t.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default();
        let left = std::time::Duration::from_secs(left.as_secs().div_ceil(60) * 60);
        format!(
            "{} (in {})",
            t.format("%a %Y-%m-%d %H:%M %:z"),
            duration::format(left)
        )
    };
    Ok(match w.position(now) {
        Position::Open { closes } => CheckOutcome {
            value: None,
            limits: Vec::new(),
            holds: true,
            measured: format!("inside {spec}, closing {}", until(closes)),
        },
        Position::Closed { opens } => CheckOutcome {
            value: None,
            limits: Vec::new(),
            holds: false,
            measured: format!("outside {spec}, opening {}", until(opens)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Attrs {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn exec_step_parses_json_stdout_and_env() {
        let out = LocalProvider
            .run_step(
                "exec",
                &attrs(json!({"shell": "echo \"{\\\"v\\\": \\\"$X\\\"}\"", "env": {"X": "2"}})),
            )
            .await
            .unwrap();
        assert_eq!(out.get("outputs"), Some(&json!({"v": "2"})));
        assert_eq!(out.get("exit_code"), Some(&json!(0)));
    }

    #[tokio::test]
    async fn exec_step_fails_with_stderr() {
        let err = LocalProvider
            .run_step(
                "exec",
                &attrs(json!({"command": ["sh", "-c", "echo boom >&2; exit 3"]})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "command exited with status 3: boom");
    }

    #[tokio::test]
    async fn exec_gate_compares_exit_status() {
        let ok = LocalProvider
            .check("exec", &attrs(json!({"shell": "exit 2", "expect_exit": 2})))
            .await
            .unwrap();
        assert!(ok.holds, "{ok:?}");
        let bad = LocalProvider
            .check("exec", &attrs(json!({"shell": "echo hi; exit 1"})))
            .await
            .unwrap();
        assert!(!bad.holds);
        assert_eq!(bad.measured, "exit 1 (want 0): hi");
    }

    #[tokio::test]
    async fn dropping_a_command_kills_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        let shell = format!("(sleep 1; touch {}) & sleep 5", marker.display());
        let a = attrs(json!({ "shell": shell }));
        let run = LocalProvider.run_step("exec", &a);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), run)
                .await
                .is_err()
        );
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(!marker.exists(), "a grandchild outlived the cancelled step");
    }

    #[tokio::test]
    async fn local_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.txt").display().to_string();
        let id = attrs(json!({ "path": path }));
        assert_eq!(
            LocalProvider
                .read(NodeKind::Resource, "local_file", &id)
                .await
                .unwrap(),
            None
        );
        let desired = attrs(json!({"path": path, "content": "v2\n", "mode": "0600"}));
        let got = LocalProvider
            .apply("local_file", Some(&desired), &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.get("content"), Some(&json!("v2\n")));
        assert_eq!(got.get("mode"), Some(&json!("0600")));
        LocalProvider.apply("local_file", None, &id).await.unwrap();
        assert!(!Path::new(&path).exists());
    }
}
