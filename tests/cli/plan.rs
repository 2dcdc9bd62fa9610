//! `cutover plan`: renderings (snapshots), the JSON schema, saved plans,
//! exit codes, targets, and what the lockfile and done_when say.

use crate::support::{repo, Project};
use serde_json::Value;

fn json_plan(p: &Project, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = p.run(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The plan JSON for snapshots: the lineage is random and salts the digests
/// of sensitive values, so it and the digests are replaced.
fn redacted(mut v: Value) -> String {
    v["lineage"] = Value::String("[lineage]".into());
    v["fingerprint"] = Value::String("[fingerprint]".into());
    for n in v["nodes"].as_array_mut().unwrap() {
        n["digest"] = Value::String("[digest]".into());
    }
    serde_json::to_string_pretty(&v).unwrap()
}

fn assert_matches_schema(plan: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(plan)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

fn rollout3() -> Project {
    Project::example("tests/fixtures/rollout3")
}

#[test]
fn quickstart_plan_snapshots() {
    let p = Project::example("examples/quickstart");
    let (code, human, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("quickstart_human", human);
    let (_, md, _) = p.run(&["plan", "--format", "markdown"]);
    insta::assert_snapshot!("quickstart_markdown", md);
    let plan = json_plan(&p, &[]);
    assert_matches_schema(&plan);
    insta::assert_snapshot!("quickstart_json", redacted(plan));
}

#[test]
fn three_stage_rollout_plan_snapshots() {
    let p = rollout3();
    let (code, human, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("rollout3_human", human);
    let (_, md, _) = p.run(&["-no-color", "plan", "-format=markdown"]);
    insta::assert_snapshot!("rollout3_markdown", md);
    let plan = json_plan(&p, &[]);
    assert_matches_schema(&plan);
    insta::assert_snapshot!("rollout3_json", redacted(plan));
}

#[test]
fn stages_of_one_object_are_chained() {
    let plan = json_plan(&rollout3(), &[]);
    let nodes = plan["nodes"].as_array().unwrap();
    let flags: Vec<&Value> = nodes.iter().filter(|n| n["type"] == "local_file").collect();
    assert_eq!(flags.len(), 3);
    assert_eq!(flags[1]["follows"], "rollout.flags[10].local_file.flags");
    assert_eq!(
        flags[2]["changes"][0]["before"]["value"],
        "{\n  \"new_checkout\": 50,\n  \"owner\": \"payments\"\n}\n"
    );
    // Gates come last in their stage, and the next stage waits for them.
    let wave = |a: &str| {
        nodes.iter().find(|n| n["address"] == a).unwrap()["wave"]
            .as_u64()
            .unwrap()
    };
    assert!(wave("rollout.flags[10].gate.errors_low") > wave("rollout.flags[10].local_file.flags"));
    assert!(wave("rollout.flags[50].local_file.flags") > wave("rollout.flags[10].gate.errors_low"));
}

#[test]
fn sensitive_values_are_never_printed() {
    let p = rollout3();
    for format in ["human", "markdown", "json"] {
        let (_, out, err) = p.run(&["plan", "--format", format]);
        assert!(
            !out.contains("s3cret") && !err.contains("s3cret"),
            "{format}: {out}"
        );
        assert!(out.contains("sensitive"), "{format}");
    }
}

#[test]
fn detailed_exitcode_says_whether_there_are_changes() {
    let p = rollout3();
    assert_eq!(p.run(&["plan", "-detailed-exitcode"]).0, 2);
    let quiet = Project::new()
        .file(
            "main.hcl",
            "resource \"local_file\" \"same\" {\n  path = \"a.txt\"\n  content = \"x\"\n}\n",
        )
        .file("a.txt", "x");
    let (code, out, _) = quiet.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes."), "{out}");
    assert!(out.contains("= local_file.same"), "{out}");
}

#[test]
fn saved_plan_holds_the_fingerprint() {
    let p = rollout3();
    let (code, out, err) = p.run(&["plan", "-out", "release.plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Saved the plan to release.plan"), "{err}");
    assert!(out.contains("Plan:"));
    let saved: Value = serde_json::from_str(&p.read("release.plan")).unwrap();
    assert_eq!(saved["format_version"], 1);
    assert_matches_schema(&saved["plan"]);
    assert_eq!(saved["plan"]["fingerprint"].as_str().unwrap().len(), 64);
    assert!(!p.read("release.plan").contains("s3cret"));

    // An edited plan is refused, and so is one from a newer cutover.
    let text = p.read("release.plan");
    std::fs::write(
        p.dir.join("edited.plan"),
        text.replacen("\"wave\": 1", "\"wave\": 2", 1),
    )
    .unwrap();
    let (code, _, err) = p.run(&["apply", "edited.plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("edited.plan is not a cutover plan file: its content does not match its checksum: it was edited or damaged after it was saved; plan again"),
        "{err}"
    );
    std::fs::write(
        p.dir.join("newer.plan"),
        text.replacen("\"format_version\": 1", "\"format_version\": 99", 1),
    )
    .unwrap();
    let (code, _, err) = p.run(&["apply", "newer.plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("it was saved by a newer cutover (plan format 99; this one reads 1)"),
        "{err}"
    );
}

#[test]
fn fingerprint_changes_when_an_observed_object_changes() {
    let p = Project::new()
        .file(
            "main.hcl",
            "resource \"local_file\" \"a\" {\n  path = \"a.txt\"\n  content = \"new\"\n}\n",
        )
        .file("a.txt", "old");
    let fp = |p: &Project| json_plan(p, &[])["fingerprint"].clone();
    let first = fp(&p);
    assert_eq!(first, fp(&p), "nothing changed");
    std::fs::write(p.dir.join("a.txt"), "older").unwrap();
    assert_ne!(first, fp(&p));
}

#[test]
fn target_limits_the_plan_to_a_node_and_its_dependencies() {
    let plan = json_plan(
        &rollout3(),
        &["-target", "rollout.flags[10].gate.errors_low"],
    );
    let addrs: Vec<&str> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addrs,
        [
            "step.snapshot",
            "rollout.flags[10].local_file.flags",
            "rollout.flags[10].gate.errors_low"
        ]
    );
    let whole_stage = json_plan(&rollout3(), &["-target", "rollout.flags[50]"]);
    assert_eq!(whole_stage["nodes"].as_array().unwrap().len(), 5);
}

fn lockfile(nodes: Value) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "format_version": 1,
        "migration": "locked",
        "lineage": "abc",
        "serial": 3,
        "spec_digest": "x",
        "nodes": nodes,
    }))
    .unwrap()
}

const LOCKED: &str = "migration \"locked\" {}\nstep \"exec\" \"a\" {\n  shell = \"echo a\"\n}\nstep \"exec\" \"b\" {\n  shell = \"echo b\"\n}\nstep \"exec\" \"c\" {\n  shell = \"echo ${step.a.outputs.v}\"\n}\n";

#[test]
fn lockfile_marks_done_and_changed_steps() {
    let p = Project::new().file("main.hcl", LOCKED);
    let fresh = json_plan(&p, &[]);
    let digest = |addr: &str| {
        fresh["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["address"] == addr)
            .unwrap()["digest"]
            .clone()
    };
    let lock = lockfile(serde_json::json!({
        "step.a": { "status": "done", "digest": digest("step.a"), "finished_at": "2026-11-20T10:00:00Z", "outputs": { "stdout": "{\"v\": \"from-a\"}", "exit_code": 0, "outputs": { "v": "from-a" } } },
        "step.b": { "status": "done", "digest": "0".repeat(64) },
    }));
    let p = p.file("cutover.lock", &lock);
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("✓ step.a  applied at 2026-11-20T10:00:00Z"),
        "{out}"
    );
    assert!(out.contains("! step.b  its definition changed since it was applied; run with -replace step.b to run it again"), "{out}");
    // A done step's recorded outputs are known to the steps after it.
    assert!(out.contains("shell = \"echo from-a\""), "{out}");
    let (_, out, _) = p.run(&["plan", "-replace", "step.b"]);
    assert!(
        out.contains("> step.b  replacement requested with -replace"),
        "{out}"
    );
}

#[test]
fn bad_lockfiles_are_refused_and_left_alone() {
    let p = Project::new()
        .file("main.hcl", LOCKED)
        .file("cutover.lock", "{ not json");
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a valid cutover lockfile"), "{err}");
    assert_eq!(p.read("cutover.lock"), "{ not json");
    let newer =
        lockfile(serde_json::json!({})).replace("\"format_version\": 1", "\"format_version\": 9");
    let p = p.file("cutover.lock", &newer);
    let (_, _, err) = p.run(&["plan"]);
    assert!(
        err.contains("has format version 9, newer than this cutover understands"),
        "{err}"
    );
    let p = p.file(
        "cutover.lock",
        &lockfile(serde_json::json!({})).replace("\"locked\"", "\"other\""),
    );
    let (_, _, err) = p.run(&["plan"]);
    assert!(
        err.contains("belongs to migration \"other\", not \"locked\""),
        "{err}"
    );
}

#[test]
fn done_when_marks_a_step_done_without_running_it() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"migrate\" {\n  shell = \"touch ran\"\n  done_when = \"test -f marker\"\n}\n",
    );
    let (_, out, _) = p.run(&["plan"]);
    assert!(
        out.contains("> step.migrate  done_when does not hold yet (done_when exited 1)"),
        "{out}"
    );
    let p = p.file("marker", "");
    let (_, out, _) = p.run(&["plan"]);
    assert!(out.contains("✓ step.migrate  done_when holds"), "{out}");
    assert!(!p.dir.join("ran").exists(), "plan must not run steps");
}

#[test]
fn data_sources_are_read_at_plan_time() {
    let server = crate::support::serve_once_per_request(r#"{"version": "v7", "healthy": true}"#);
    let spec = format!(
        "data \"http\" \"release\" {{\n  url = \"{server}/release\"\n}}\nresource \"local_file\" \"pin\" {{\n  path = \"pin.txt\"\n  content = data.http.release.json.version\n}}\n"
    );
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("= data.http.release"), "{out}");
    assert!(out.contains("+ content = \"v7\""), "{out}");
}

#[test]
fn unreachable_data_source_is_an_error() {
    let p = Project::new().file(
        "main.hcl",
        "data \"http\" \"x\" {\n  url = \"http://127.0.0.1:9/\"\n}\n",
    );
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refreshing data.http.x failed: http://127.0.0.1:9/"),
        "{err}"
    );
}

#[test]
fn removed_resource_blocks_are_planned_for_deletion() {
    let lock = serde_json::to_string(&serde_json::json!({
        "format_version": 1, "migration": "m", "lineage": "l", "serial": 1, "spec_digest": "x",
        "nodes": { "local_file.old": { "status": "done", "digest": "d", "kind": "resource", "type_name": "local_file", "prior": null, "identity": { "path": "old.txt" } } }
    }))
    .unwrap();
    let p = Project::new()
        .file("main.hcl", "migration \"m\" {}\n")
        .file("cutover.lock", &lock);
    let (_, out, _) = p.run(&["plan"]);
    assert!(out.contains("- local_file.old  its block was removed from the spec; the object it created is removed"), "{out}");
}

#[test]
fn exclude_leaves_out_a_node_and_everything_that_depends_on_it() {
    let p = rollout3();
    let (code, human, err) = p.run(&["plan", "-exclude", "rollout.flags[50]"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("exclude_human", human);
    let plan = json_plan(&p, &["-exclude", "rollout.flags[50]"]);
    assert_matches_schema(&plan);
    assert_eq!(plan["excludes"], serde_json::json!(["rollout.flags[50]"]));
    assert_eq!(
        plan["excluded"],
        serde_json::json!([
            "step.announce",
            "rollout.flags[50].local_file.flags",
            "rollout.flags[50].gate.errors_low",
            "rollout.flags[100].local_file.flags",
            "rollout.flags[100].gate.errors_low"
        ])
    );
    let (code, _, err) = p.run(&["plan", "-exclude", "step.nope"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("exclude_unknown_address", err);
}

#[test]
fn apply_with_exclude_runs_only_what_is_left() {
    let p = rollout3().file("errors.txt", "0\n");
    let (code, out, err) = p.run(&[
        "apply",
        "-auto-approve",
        "-exclude",
        "rollout.flags[10].gate.errors_low",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, list, _) = p.run(&["state", "list"]);
    let recorded: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(
        recorded,
        [
            ["rollout.flags[10].local_file.flags", "done"],
            ["step.snapshot", "done"]
        ]
    );
}
