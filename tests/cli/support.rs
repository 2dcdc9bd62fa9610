//! A throwaway migration directory and the real binary run inside it.

use std::path::{Path, PathBuf};

pub struct Project {
    /// Keeps the temporary directory alive.
    _root: tempfile::TempDir,
    /// The migration directory inside `root`.
    pub dir: PathBuf,
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        if name_s == "state" || name_s.starts_with("cutover.lock") {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

impl Project {
    /// An empty migration directory.
    pub fn new() -> Project {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mig");
        std::fs::create_dir_all(&dir).unwrap();
        Project { _root: root, dir }
    }

    /// A copy of `examples/NAME` (or a fixture under tests/fixtures), with `modules/` beside it
    /// at the same relative place as in the repository.
    pub fn example(rel: &str) -> Project {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(rel);
        copy_dir(&repo().join(rel), &dir);
        copy_dir(&repo().join("modules"), &root.path().join("modules"));
        Project { _root: root, dir }
    }

    pub fn file(self, path: &str, content: &str) -> Project {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join(path)).unwrap()
    }

    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("cutover").unwrap();
        c.current_dir(&self.dir)
            .env_remove("NO_COLOR")
            .env("CUTOVER_TEST", "1");
        for (k, _) in std::env::vars() {
            if k.starts_with("CUTOVER_VAR_") {
                c.env_remove(k);
            }
        }
        c
    }

    /// Runs the binary; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_env(&[], args)
    }

    /// Runs the binary with more environment variables.
    pub fn run_env<S: AsRef<std::ffi::OsStr>>(
        &self,
        env: &[(&str, &str)],
        args: &[S],
    ) -> (i32, String, String) {
        let mut c = self.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// Starts an HTTP server on loopback that answers every request with `body`
/// (JSON, status 200); returns its base URL. It lives as long as the test process.
pub fn serve_once_per_request(body: &'static str) -> String {
    serve(move |_| (200, body.to_string()))
}

/// Starts an HTTP server on loopback that answers each request with the
/// status and JSON body `answer` gives for its path and query; returns its
/// base URL. It lives as long as the test process.
pub fn serve(answer: impl Fn(&str) -> (u16, String) + Send + 'static) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let target = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = answer(target);
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    format!("http://{addr}")
}

/// Decodes a form-encoded query value ("%7B" → "{", "+" → " ").
pub fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Project {
    /// Starts the binary in the background with piped stdout and stderr.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("cutover"))
            .current_dir(&self.dir)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Waits until the journal records that `address` started.
pub fn wait_started(p: &Project, address: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let journal =
            std::fs::read_to_string(p.dir.join("cutover.lock.journal")).unwrap_or_default();
        // As the journal writes it: JSON, so an instance key's quotes are escaped.
        let field = format!("\"address\":{}", serde_json::json!(address));
        if journal
            .lines()
            .any(|l| l.contains(&field) && l.contains("\"started\""))
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{address} never started");
}

/// Waits until `path` exists.
pub fn wait_for_file(path: &std::path::Path) {
    for _ in 0..1000 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{} never appeared", path.display());
}

/// Starts a loopback webhook receiver; returns its URL and the bodies posted
/// to it so far, in order. It lives as long as the test process.
pub fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (format!("http://{addr}/hooks/T000/secret-token"), got)
}
