//! Secrets never reach the lockfile, the journal, the output or an error: a
//! canary in a sensitive variable flows into a file's content, a step's
//! environment (which echoes it), a gate's URL and an output; every byte
//! cutover prints, posts or writes is searched for it, its base64 and hex.

use crate::support::{serve, webhook_receiver, Project};

const CANARY: &str = "CanaryZ7q-s3cret/Value";

fn spec(url: &str, hook: &str) -> String {
    format!(
        r#"
migration "canary" {{
  on_failure = "rollback"
  notify {{
    webhook = "{hook}"
  }}
}}

variable "token" {{
  type      = string
  sensitive = true
}}

variable "fail" {{
  type    = number
  default = 1
}}

variable "pause" {{
  type    = number
  default = 0
}}

resource "local_file" "cfg" {{
  path    = "cfg.txt"
  content = "token=${{var.token}}"
}}

step "exec" "echo" {{
  shell      = "echo out $TOKEN; echo err $TOKEN >&2; sleep ${{var.pause}}; exit $((3 * ${{var.fail}}))"
  env        = {{ TOKEN = var.token }}
  depends_on = [local_file.cfg]

  rollback {{
    shell = <<EOT
echo undo ${{var.token}}
echo done
EOT
  }}
}}

gate "http" "poll" {{
  url           = "{url}/${{var.fail == 1 ? "bad" : "ok"}}?t=${{var.token}}"
  interval      = "50ms"
  failure_limit = 2
  depends_on    = [local_file.cfg]
}}

output "derived" {{
  value = "x-${{var.token}}"
}}

output "stdout" {{
  value = step.echo.stdout
}}
"#
    )
}

fn forms() -> Vec<String> {
    use base64::Engine;
    vec![
        CANARY.to_string(),
        base64::engine::general_purpose::STANDARD.encode(CANARY),
        hex::encode(CANARY),
        CANARY.replace('/', "%2F"),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for f in forms() {
        assert!(!text.contains(&f), "{what} holds the secret ({f}):\n{text}");
    }
}

fn every_file(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            every_file(&e.path(), out);
        } else if e.file_name() != "cfg.txt" {
            let bytes = std::fs::read(e.path()).unwrap();
            out.push((
                e.path().display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
}

#[test]
fn a_canary_secret_reaches_no_output_file_event_or_webhook() {
    let url = serve(|path| {
        if path.starts_with("/ok") {
            (200, "{}".into())
        } else {
            (500, "{}".into())
        }
    });
    let (hook, posted) = webhook_receiver();
    let p = Project::new().file("main.hcl", &spec(&url, &hook));
    let env = [("CUTOVER_VAR_token", CANARY)];
    let mut printed = Vec::new();
    for args in [
        &["plan", "-out", "p.plan"][..],
        &["apply", "-auto-approve"],
        &["apply", "-auto-approve", "--json"],
        &["apply", "-auto-approve", "-var", "fail=0"],
        &["plan", "--format", "json"],
        &["plan", "--format", "markdown"],
        &["show", "p.plan"],
        &["show", "--format", "markdown", "p.plan"],
        &["show", "--format", "json", "p.plan"],
        &["show"],
        &["show", "--format", "markdown"],
        &["show", "--format", "json"],
        &["state", "show", "local_file.cfg"],
        &["state", "show", "step.echo"],
        &["output"],
        &["output", "--json"],
        &["rollback", "-auto-approve", "--json"],
        &["history"],
        &["status"],
        &["report"],
        &["report", "--format", "json"],
        &["report", "--format", "html"],
    ] {
        let (code, out, err) = p.run_env(&env, args);
        printed.push((format!("{args:?} (exit {code})"), format!("{out}{err}")));
    }
    // Every recorded run's report, the failed applies' error lines included.
    let (_, history, _) = p.run(&["history"]);
    let runs: Vec<String> = history
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(runs.len(), 4, "{history}");
    for run in &runs {
        for format in ["markdown", "json", "html"] {
            let (code, out, err) = p.run_env(&env, &["report", run, "--format", format]);
            printed.push((
                format!("report {run} {format} (exit {code})"),
                format!("{out}{err}"),
            ));
        }
    }
    let outcome = |i: usize| printed[i].1.clone();
    assert!(
        outcome(1).contains("err (sensitive)"),
        "the failed step's stderr is masked:\n{}",
        outcome(1)
    );
    assert!(outcome(3).contains("Apply complete."), "{}", outcome(3));
    for (what, text) in &printed {
        assert_clean(what, text);
    }
    // A journal left by a crash holds what the transitions recorded.
    std::fs::remove_file(p.dir.join("cfg.txt")).ok();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cutover"))
        .current_dir(&p.dir)
        .args(["apply", "-auto-approve", "-var", "pause=5"])
        .env("CUTOVER_VAR_token", CANARY)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::wait_started(&p, "step.echo");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(p.dir.join("cutover.lock.journal").exists());
    let mut files = Vec::new();
    every_file(&p.dir, &mut files);
    assert!(files.iter().any(|(f, _)| f.ends_with("cutover.lock")));
    for (what, text) in &files {
        assert_clean(what, text);
    }
    let bodies = posted.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "the webhook was posted to");
    for b in &bodies {
        assert_clean("a webhook body", b);
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.dir.join("cutover.lock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the lockfile is private");
}

/// A sensitive list is shown as `(sensitive)`, and only its parts that
/// read a secret are masked elsewhere: its `echo` in another step's
/// command stays readable. A secret spelled like a JSON token (`true`)
/// must not break a JSON document by being masked in it.
#[test]
fn masking_a_secret_spelled_like_a_json_token_keeps_json_output_valid() {
    let p = Project::new().file(
        "main.hcl",
        r#"
migration "tokens" {}

variable "token" {
  type      = string
  sensitive = true
}

# A secret spelled like JSON's own `true`.
variable "flag" {
  type      = string
  default   = "true"
  sensitive = true
}

resource "local_file" "cfg" {
  path    = "cfg.txt"
  content = "token=${var.token} flag=${var.flag}"
}

step "exec" "use" {
  command    = ["echo", var.token]
  depends_on = [local_file.cfg]
}

step "exec" "check" {
  command    = ["echo", "checked"]
  depends_on = [step.use]
}
"#,
    );
    let env = &[("CUTOVER_VAR_token", CANARY)];
    // Only the list's part that reads the secret is masked elsewhere.
    let (code, out, err) = p.run_env(env, &["plan", "-no-color"]);
    assert_eq!(code, 0, "{err}");
    assert_clean("plan", &out);
    assert!(
        out.contains("      command = (sensitive)\n")
            && out.contains("      command = [\"echo\", \"checked\"]\n"),
        "{out}"
    );
    let (code, out, err) = p.run_env(env, &["plan", "-format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_clean("plan -format json", &out);
    let plan: serde_json::Value = serde_json::from_str(&out).expect("the JSON plan parses");
    let step = &plan["nodes"][1];
    assert_eq!(step["address"], "step.use");
    assert_eq!(
        step["irreversible"], false,
        "JSON's own `false` and `true` stay"
    );
    assert_eq!(
        step["attributes"]["command"],
        serde_json::json!({"sensitive": true})
    );
    let (code, _, err) = p.run_env(env, &["plan", "-out", "saved.plan"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = p.run_env(env, &["show", "-format", "json", "saved.plan"]);
    assert_eq!(code, 0, "{err}");
    assert_clean("show -format json", &out);
    serde_json::from_str::<serde_json::Value>(&out).expect("the shown plan parses");
}
