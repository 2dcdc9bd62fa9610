//! The CI workflow example (`examples/ci`): the GitHub Actions and GitLab CI
//! files are valid YAML with the triggers and permissions the README names,
//! every command they run exists, and the script they call runs against a
//! local migration with the real binary — plan, the PR comment posted then
//! updated (through a stand-in `gh`), the reviewed plan applied, a stale one
//! refused.

use crate::support::{repo, Project};
use serde_yaml_ng::Value;

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The subcommands the script dispatches, from its `case` arms.
fn script_subcommands() -> Vec<String> {
    std::fs::read_to_string(repo().join("examples/ci/cutover-ci.sh"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().split_once(") ").map(|(arm, _)| arm.to_string()))
        .filter(|arm| arm.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect()
}

/// Every `run:` of a GitHub workflow and every `script:` line of a GitLab one.
fn commands(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    (Some("run"), Value::String(s)) => out.push(s.clone()),
                    (Some("script" | "before_script"), Value::Sequence(lines)) => {
                        out.extend(lines.iter().filter_map(|l| l.as_str().map(String::from)))
                    }
                    _ => commands(v, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| commands(i, out)),
        _ => {}
    }
}

#[test]
fn the_workflows_are_valid_and_call_only_what_exists() {
    let gh = yaml("examples/ci/github/cutover.yml");
    assert!(gh["on"]["pull_request"].is_mapping());
    assert_eq!(gh["on"]["push"]["branches"][0], "main");
    assert_eq!(gh["jobs"]["plan"]["permissions"]["pull-requests"], "write");
    assert_eq!(gh["jobs"]["apply"]["permissions"]["actions"], "read");
    let gl = yaml("examples/ci/gitlab/.gitlab-ci.yml");
    assert!(gl["cutover-plan"]["artifacts"]["paths"].is_sequence());
    assert!(gl["cutover-apply"]["resource_group"].is_string());
    let known = script_subcommands();
    assert_eq!(known, ["plan", "comment-github", "comment-gitlab", "apply"]);
    let mut calls = 0;
    for wf in [&gh, &gl] {
        let mut cmds = Vec::new();
        commands(wf, &mut cmds);
        for c in &cmds {
            for (i, _) in c.match_indices("examples/ci/cutover-ci.sh ") {
                let sub = c[i..].split_whitespace().nth(1).unwrap();
                assert!(known.iter().any(|k| k == sub), "{sub} in {c}");
                calls += 1;
            }
        }
    }
    assert_eq!(calls, 6);
    let syntax = std::process::Command::new("bash")
        .args(["-n", "examples/ci/cutover-ci.sh"])
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(syntax.success());
}

/// A stand-in for `gh api` that keeps one repository's comments in a file.
const FAKE_GH: &str = r#"#!/usr/bin/env python3
import json, os, sys
store = os.environ["FAKE_GH_STORE"]
comments = json.load(open(store)) if os.path.exists(store) else []
args = sys.argv[1:]
with open(store + ".log", "a") as log:
    log.write(" ".join(a for a in args if not a.startswith("body=")) + "\n")
method = args[args.index("--method") + 1] if "--method" in args else "GET"
body = next((open(a[len("body=@"):]).read() for a in args if a.startswith("body=@")), None)
if method == "GET":
    jq = args[args.index("--jq") + 1]
    mark = jq.split('startswith("')[1].split('")')[0]
    for c in comments:
        if c["body"].startswith(mark):
            print(c["id"])
elif method == "POST":
    comments.append({"id": 100 + len(comments), "body": body})
elif method == "PATCH":
    cid = int(args[args.index("--method") + 2].rsplit("/", 1)[1])
    next(c for c in comments if c["id"] == cid)["body"] = body
json.dump(comments, open(store, "w"))
"#;

struct Ci {
    project: Project,
    bin: tempfile::TempDir,
}

impl Ci {
    fn new() -> Ci {
        let bin = tempfile::tempdir().unwrap();
        let gh = bin.path().join("gh");
        std::fs::write(&gh, FAKE_GH).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&gh)
            .status()
            .unwrap();
        Ci {
            project: Project::example("tests/fixtures/review"),
            bin,
        }
    }

    /// Runs `cutover-ci.sh ARGS` in the repository root of the copy, as a pipeline does.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let cutover = assert_cmd::cargo::cargo_bin("cutover");
        let path = format!(
            "{}:{}:{}",
            self.bin.path().display(),
            cutover.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new(repo().join("examples/ci/cutover-ci.sh"))
            .args(args)
            .current_dir(self.project.dir.parent().unwrap())
            .env("PATH", path)
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("FAKE_GH_STORE", self.bin.path().join("comments.json"))
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn comments(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.bin.path().join("comments.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

#[test]
fn the_pipeline_plans_comments_once_and_applies_the_reviewed_plan() {
    let ci = Ci::new();
    let (code, out, err) = ci.run(&["plan", "review", "out"]);
    assert_eq!(code, 2, "changes: exit 2\n{out}{err}");
    let md = std::fs::read_to_string(ci.project.dir.join("../out/plan.md")).unwrap();
    assert!(
        md.starts_with("<!-- cutover:plan:rename_column:review -->\n"),
        "{md}"
    );
    // The comment is posted once, then updated in place.
    assert_eq!(
        ci.run(&["comment-github", "7", "out/plan.md"]).1,
        "commented on #7\n"
    );
    assert_eq!(
        ci.run(&["comment-github", "7", "out/plan.md"]).1,
        "updated comment 100 on #7\n"
    );
    let comments = ci.comments();
    assert_eq!(comments.as_array().unwrap().len(), 1);
    assert_eq!(comments[0]["body"], md);
    // On merge: exactly the reviewed plan is applied.
    let (code, out, err) = ci.run(&["apply", "review", "out/cutover.plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ci.project.read("notes.txt"), "one\ntwo\nthree\n");
    let (code, out, _) = ci.run(&["plan", "review", "out"]);
    assert_eq!(code, 0, "no changes after the apply: exit 0\n{out}");
}

#[test]
fn the_pipeline_refuses_a_plan_that_went_stale_after_review() {
    let ci = Ci::new();
    assert_eq!(ci.run(&["plan", "review", "out"]).0, 2);
    // After review, someone changes what the plan observed.
    std::fs::write(ci.project.dir.join("notes.txt"), "edited by hand\n").unwrap();
    let (code, out, err) = ci.run(&["apply", "review", "out/cutover.plan"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("is stale, so nothing was applied"), "{err}");
    assert_eq!(ci.project.read("notes.txt"), "edited by hand\n");
}
