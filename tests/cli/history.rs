//! Run history: `history`, `report` (markdown, JSON, HTML in a real
//! browser) and `status` against a running apply.

use crate::support::{serve, Project};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Who runs the binary in these tests, and from which CI job.
const ENV: &[(&str, &str)] = &[
    ("USER", "ops"),
    ("CI_JOB_URL", "https://ci.example/jobs/42"),
];

/// Times, run ids, durations and the host vary from run to run: replaced by placeholders.
pub fn scrub(text: &str) -> String {
    let host = {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length.
        unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
        String::from_utf8_lossy(&buf[..end]).into_owned()
    };
    let rules = [
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "[RUN]"),
        (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?", "[TIME]"),
        (r"\b\d\d:\d\d:\d\d(\.\d+)?\b", "[CLOCK]"),
        (r"\b1\d{12}\b", "[MS]"),
        (
            r"\b\d+(\.\d+)?( ?ms|s|m|h)( \d+(\.\d+)?(ms|s|m))?\b",
            "[DUR]",
        ),
        (r"`[0-9a-f]{16}`", "`[PLAN]`"),
        (r"pid \d+", "pid [PID]"),
        (r"lock id [0-9a-f]+", "lock id [ID]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
    ];
    let mut out = text.replace(&format!("@{host}"), "@[HOST]");
    for (re, to) in rules {
        out = regex::Regex::new(re)
            .unwrap()
            .replace_all(&out, to)
            .into_owned();
    }
    out
}

fn spawn(p: &Project, args: &[&str]) -> Child {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("cutover"));
    c.current_dir(&p.dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("GITHUB_SERVER_URL")
        .env_remove("CI");
    for (k, v) in ENV {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// An error rate of 0.09 for the first two polls, then 0.01.
fn metrics(fail: bool) -> String {
    let polls = Arc::new(AtomicUsize::new(0));
    serve(move |_| {
        let n = polls.fetch_add(1, Ordering::SeqCst);
        let rate = if fail {
            0.5
        } else if n < 2 {
            0.09
        } else {
            0.01
        };
        (200, format!("{{\"error_rate\": {rate}}}"))
    })
}

fn spec(url: &str, state: &str) -> String {
    format!(
        r#"migration "nightly" {{
{state}  history {{
    measurements = 10
  }}
}}

step "exec" "backup" {{
  shell = "echo backup > backup.txt"
}}

gate "http" "healthy" {{
  url        = "{url}/metrics"
  json       = {{ "/error_rate" = {{ below = 0.05 }} }}
  interval   = "100ms"
  for        = "300ms"
  timeout    = "20s"
  depends_on = [step.backup]
}}

gate "approval" "go_ahead" {{
  message    = "Cut over?"
  interval   = "100ms"
  timeout    = "60s"
  depends_on = [gate.healthy]
}}

step "exec" "cutover" {{
  shell        = "echo cut > cut.txt"
  irreversible = true
  depends_on   = [gate.go_ahead]
}}
"#
    )
}

/// Runs `status` until it shows `want`, or fails after 20 s with the last output.
fn status_until(p: &Project, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, out, err) = p.run_env(ENV, &["status"]);
        if out.contains(want) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed {want:?}:\n{out}{err}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An apply that waits at an approval, seen by `status`, approved with a comment.
fn approved_run(p: &Project) -> String {
    let child = spawn(p, &["apply", "-auto-approve"]);
    let status = status_until(p, "Waiting for approval:");
    let approver = [("USER", "lead")];
    let (code, out, err) = p.run_env(
        &approver,
        &[
            "approve",
            "gate.go_ahead",
            "--comment",
            "error rate is flat",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let done = child.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    status
}

#[test]
fn status_history_and_report_follow_an_apply_with_an_approval() {
    let p = Project::new().file("main.hcl", &spec(&metrics(false), ""));
    let status = approved_run(&p);
    insta::assert_snapshot!("history_status_waiting", scrub(&status));

    let (code, out, _) = p.run_env(ENV, &["status"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("history_status_idle", scrub(&out));
    let (code, out, _) = p.run_env(ENV, &["history"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("history_list", columns(&scrub(&out)));
    let (code, md, err) = p.run_env(ENV, &["report"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("history_report_markdown", scrub(&md));

    let (code, json, _) = p.run_env(ENV, &["report", "--format", "json"]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    validate(&report);
    let gate = &report["gates"][0];
    assert_eq!(gate["address"], "gate.healthy");
    let values: Vec<f64> = gate["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [0.09, 0.01, 0.01], "first, the change, the last");
    assert_eq!(gate["limits"][0]["op"], "below");
    assert_eq!(
        scrub(report["approvals"][0]["by"].as_str().unwrap()),
        "lead@[HOST]"
    );
    assert_eq!(report["approvals"][0]["comment"], "error rate is flat");
    assert_eq!(report["points_of_no_return"][0]["address"], "step.cutover");
    assert_eq!(report["points_of_no_return"][0]["confirmed"], true);
    assert_eq!(report["run"]["by"]["ci"], "https://ci.example/jobs/42");
    insta::assert_snapshot!("history_report_json", scrub(&stable_json(report)));
}

#[test]
fn a_failed_apply_reports_what_was_rolled_back_and_why() {
    let url = metrics(true);
    let p = Project::new().file("main.hcl", &spec(&url, "").replace("20s", "1s"));
    let (code, _, _) = p.run_env(ENV, &["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    let (code, out, _) = p.run_env(ENV, &["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let (_, list, _) = p.run_env(ENV, &["history"]);
    insta::assert_snapshot!("history_list_failed", columns(&scrub(&list)));
    // The older run by a unique prefix of its id.
    let id = list
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let (code, md, err) = p.run_env(ENV, &["report", &id[..17]]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("history_report_failed", scrub(&md));
    let (code, _, err) = p.run_env(ENV, &["report", "2001"]);
    assert_eq!(code, 1);
    assert_eq!(
        scrub(&err),
        "Error: no run 2001; `cutover history` lists the 2 recorded\n"
    );
}

/// The report's JSON with what varies from run to run (milliseconds, the
/// host, the plan's fingerprint) replaced.
fn stable_json(mut v: serde_json::Value) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match k.as_str() {
                        "host" | "plan" => *x = "[VARIES]".into(),
                        "durations_ms" => {
                            for d in x.as_object_mut().into_iter().flat_map(|d| d.values_mut()) {
                                *d = "[MS]".into();
                            }
                        }
                        k if k.ends_with("_ms") => *x = "[MS]".into(),
                        _ => walk(x),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

/// A table whose column widths follow what was scrubbed: runs of spaces as two.
fn columns(text: &str) -> String {
    regex::Regex::new(" {2,}")
        .unwrap()
        .replace_all(text, "  ")
        .into_owned()
}

fn validate(report: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Chromium from Debian (`.ci/run` installs it).
fn chromium() -> String {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .map(str::to_string)
        .expect("the HTML report test needs a headless Chromium: apt-get install chromium (.ci/run does)")
}

#[test]
fn the_html_report_renders_in_a_real_browser() {
    let url = metrics(true);
    let p = Project::new().file("main.hcl", &spec(&url, "").replace("20s", "1s"));
    let (code, _, _) = p.run_env(ENV, &["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    let page = p.dir.join("report.html");
    let (code, _, err) = p.run_env(
        ENV,
        &[
            "report",
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(external), "self-contained: {external}");
    }
    let browser = chromium();
    let profile = tempfile::tempdir().unwrap();
    let headless = |extra: &[&str]| {
        let out = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args([
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1100,1400",
            ])
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    // The DOM as the browser built it: one bar per node that ran or was skipped.
    let dom = headless(&["--dump-dom"]);
    let console = String::from_utf8_lossy(&dom.stderr).to_string();
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    assert_eq!(dom.matches("<rect class=\"bar ").count(), 4, "{dom}");
    assert_eq!(
        dom.matches("<svg").count(),
        2,
        "the timeline and the gate's chart"
    );
    assert!(
        dom.contains("gate.healthy — failed"),
        "hover titles name node and status"
    );
    assert!(
        !console.contains(":CONSOLE(") && !console.contains("Uncaught"),
        "console messages: {console}"
    );
    let shot = p.dir.join("report.png");
    headless(&[&format!("--screenshot={}", shot.display())]);
    let (width, height, distinct) = png_colours(&shot);
    assert_eq!((width, height), (1100, 1400));
    assert!(
        distinct > 8,
        "the screenshot is not blank: {distinct} colours"
    );
}

/// A PNG's size and how many distinct colours it has (decoded with `png`).
fn png_colours(path: &std::path::Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    (info.width, info.height, colours.len())
}

#[test]
fn status_shows_a_running_apply_through_the_postgres_backend() {
    let db = crate::postgres::fresh_db("status");
    let state = format!("  state \"pg\" {{\n    database = \"{db}\"\n  }}\n");
    let p = Project::new().file("main.hcl", &spec(&metrics(false), &state));
    let status = approved_run(&p);
    insta::assert_snapshot!("history_status_waiting_pg", scrub(&status));
    let (_, list, _) = p.run_env(ENV, &["history"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains(" apply "), "{list}");
    assert!(!p.dir.join("cutover.lock").exists());
}

#[test]
fn recorded_durations_and_approval_timeouts_feed_the_critical_path() {
    let spec = "step \"exec\" \"slow\" {\n  shell = \"sleep 0.3\"\n}\n\ngate \"approval\" \"go\" {\n  timeout    = \"1h\"\n  depends_on = [step.slow]\n}\n";
    let p = Project::new().file("main.hcl", spec);
    let note = |p: &Project| {
        let (code, out, err) = p.run(&["plan"]);
        assert_eq!(code, 0, "{err}");
        let at = out.find("Critical path: ").expect("a critical path");
        out[at..]
            .lines()
            .take(2)
            .map(|l| scrub(l) + "\n")
            .collect::<String>()
    };
    assert_eq!(
        note(&p),
        "Critical path: [DUR] — gate.go\n  Durations: gate.go counts at its timeout ([DUR]), an upper bound.\n"
    );
    let (code, out, _) = p.run(&["apply", "-auto-approve", "-target", "step.slow"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        note(&p),
        "Critical path: [DUR] — step.slow → gate.go\n  Durations: 1 recorded in earlier runs; gate.go counts at its timeout ([DUR]), an upper bound.\n"
    );
    let (_, json, _) = p.run(&["plan", "-format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let slow = &plan["nodes"][0];
    assert_eq!(slow["duration_source"], "recorded");
    assert!(
        slow["expected_duration_ms"].as_u64().unwrap() >= 300,
        "{slow}"
    );
    assert_eq!(plan["nodes"][1]["duration_source"], "upper_bound");
    assert_eq!(plan["nodes"][1]["expected_duration_ms"], 3_600_000);
}

#[test]
fn plan_and_status_during_an_apply_show_the_running_step() {
    let spec = "step \"exec\" \"a\" {\n  shell = \"echo a\"\n}\n\nstep \"exec\" \"slow\" {\n  shell      = \"sleep 3\"\n  depends_on = [step.a]\n}\n";
    let p = Project::new().file("main.hcl", spec);
    let apply = spawn(&p, &["apply", "-auto-approve"]);
    crate::support::wait_started(&p, "step.slow");
    let watch = spawn(&p, &["status", "--watch", "1"]);
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with("Note: the state is held by apply by "),
        "{err}"
    );
    assert!(
        scrub(&out).contains("> step.slow  running now (since [TIME]) in the apply by "),
        "{out}"
    );
    let out = status_until(&p, "step.slow for");
    assert!(
        scrub(&out).contains("Progress: 1 of 2 nodes finished\nRunning:\n  step.slow for [DUR]\n"),
        "{out}"
    );
    assert!(apply.wait_with_output().unwrap().status.success());
    // Watching ends with the run, on what it came to.
    let watched = watch.wait_with_output().unwrap();
    assert!(watched.status.success());
    let text = String::from_utf8_lossy(&watched.stdout);
    assert!(text.contains("Running:\n  step.slow for "), "{text}");
    assert!(
        text.trim_end().ends_with("Apply complete."),
        "the last refresh shows the end: {text}"
    );
}

#[test]
fn a_run_keeps_at_most_its_events_and_counts_the_rest() {
    let spec = "migration \"many\" {\n  history {\n    events = 100\n  }\n}\n\nstep \"exec\" \"s\" {\n  count = 60\n  shell = \"true\"\n}\n";
    let p = Project::new().file("main.hcl", spec);
    let (code, out, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let lock: serde_json::Value = serde_json::from_str(&p.read("cutover.lock")).unwrap();
    let run = &lock["history"][0];
    assert_eq!(run["events"].as_array().unwrap().len(), 100);
    // 60 × (started, done) + apply started + wave done = 122 events.
    assert_eq!(run["summary"]["dropped_events"], 22);
    assert_eq!(run["summary"]["done"], 60, "counted all the same");
    let (_, md, _) = p.run(&["report"]);
    assert!(
        md.contains(
            "| events | 22 beyond the run's limit (`history { events }`) were counted, not kept |"
        ),
        "{md}"
    );
}

#[test]
fn a_bad_history_block_is_a_located_diagnostic() {
    let p = Project::new().file(
        "main.hcl",
        "migration \"m\" {\n  history {\n    runs  = 0\n    color = 1\n  }\n}\n",
    );
    let (code, out, err) = p.run(&["validate"]);
    assert_eq!(code, 1, "{out}");
    insta::assert_snapshot!("history_bad_block", err);
}

#[test]
fn a_killed_run_is_seen_as_ended_unrecorded() {
    let spec = "step \"exec\" \"slow\" {\n  shell = \"sleep 2\"\n}\n";
    let p = Project::new().file("main.hcl", spec);
    let mut apply = spawn(&p, &["apply", "-auto-approve"]);
    crate::support::wait_started(&p, "step.slow");
    status_until(&p, "step.slow for");
    apply.kill().unwrap();
    apply.wait().unwrap();
    let (_, status, _) = p.run(&["status"]);
    assert!(
        status.contains(
            "Lock: free. The run above holds no lock: it ended without recording its end"
        ),
        "{status}"
    );
    let (_, list, _) = p.run(&["history"]);
    assert!(
        columns(&list).contains("  apply  ") && list.contains("no end recorded"),
        "{list}"
    );
    // The next run settles it.
    std::thread::sleep(Duration::from_secs(2));
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, list, _) = p.run(&["history"]);
    let outcomes: Vec<&str> = list
        .lines()
        .skip(1)
        .map(|l| {
            if l.contains("ended unrecorded") {
                "ended unrecorded"
            } else if l.contains("succeeded") {
                "succeeded"
            } else {
                l
            }
        })
        .collect();
    assert_eq!(outcomes, ["succeeded", "ended unrecorded"], "{list}");
}
