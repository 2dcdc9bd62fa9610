//! `for_each` and `count` on every block kind, modules repeated and inside
//! rollouts, instance addresses in every command, and the diagnostics of
//! expansion.

use crate::support::Project;

fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort_unstable();
    v
}

#[test]
fn every_block_kind_repeats_and_applies() {
    let p = Project::example("tests/fixtures/instances");
    let (code, plan, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("instances_plan", plan);
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{err}");
    // Instances run in parallel where the graph allows: compare as sets, then order.
    let log = p.read("out/log.txt");
    assert_eq!(
        sorted_lines(&log),
        [
            "alpha",
            "beta",
            "gamma",
            "out/alpha-db_alpha.sql,out/beta-db_beta.sql,out/gamma-db_gamma.sql 2",
            "shift",
            "shift",
            "warm 0",
            "warm 1",
        ]
    );
    let pos = |l: &str| log.lines().position(|x| x == l).unwrap();
    assert!(pos("warm 0") < pos("alpha") && pos("warm 1") < pos("beta"));
    assert!(
        pos("gamma") < pos("out/alpha-db_alpha.sql,out/beta-db_beta.sql,out/gamma-db_gamma.sql 2")
    );
    assert_eq!(p.read("out/beta.conf"), "database=db_beta seed=eu-seed\n");
    let (code, out, _) = p.run(&["plan"]);
    assert_eq!(code, 0);
    assert!(
        out.ends_with("Plan: No changes. 12 done, 10 unchanged.\n"),
        "{out}"
    );
}

#[test]
fn instance_addresses_work_in_every_command() {
    let p = Project::example("tests/fixtures/instances");
    // -target one module instance: it and what it depends on, nothing else.
    let (code, out, err) = p.run(&[
        "plan",
        "-target",
        "module.tenant[\"beta\"]",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut addrs: Vec<&str> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap())
        .collect();
    addrs.sort_unstable();
    assert_eq!(
        addrs,
        [
            "gate.reachable[\"eu\"]",
            "gate.reachable[\"us\"]",
            "module.tenant[\"beta\"].local_file.migration",
            "module.tenant[\"beta\"].step.record",
            "step.warm[0]",
            "step.warm[1]",
        ]
    );
    // Spaces inside brackets are forgiven; unquoted string keys are not.
    let (code, _, err) = p.run(&["apply", "-auto-approve", "-target", "step.warm[ 1 ]"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.read("out/log.txt"), "warm 1\n");
    let (code, _, err) = p.run(&["plan", "-target", "module.tenant[beta]"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("instances_unquoted_key", err);
    let (code, out, err) = p.run(&["state", "show", "step.warm[1]"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"status\": \"done\""), "{out}");
    let (code, out, err) = p.run(&["state", "resolve", "step.warm[1]", "--failed"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "step.warm[1] is now recorded as failed.\n"),
        "{err}"
    );
    let (code, _, err) = p.run(&[
        "apply",
        "-auto-approve",
        "-replace",
        "step.warm[1]",
        "-target",
        "step.warm[1]",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.read("out/log.txt"), "warm 1\nwarm 1\n");
    let (code, out, _) = p.run(&["state", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("step.warm[1]"), "{out}");
}

struct Bad {
    name: &'static str,
    spec: &'static str,
}

const BAD: &[Bad] = &[
    Bad {
        name: "count and for_each",
        spec: "step \"exec\" \"a\" {\n  count    = 2\n  for_each = toset([\"x\"])\n  shell    = \"true\"\n}\n",
    },
    Bad {
        name: "each outside for_each",
        spec: "step \"exec\" \"a\" {\n  shell = \"echo ${each.key}\"\n}\n",
    },
    Bad {
        name: "count.index outside count",
        spec: "step \"exec\" \"a\" {\n  for_each = toset([\"x\"])\n  shell    = \"echo ${count.index}\"\n}\n",
    },
    Bad {
        name: "duplicate key",
        spec: "step \"exec\" \"a\" {\n  for_each = [\"x\", \"y\", \"x\"]\n  shell    = \"true\"\n}\n",
    },
    Bad {
        name: "non-string key",
        spec: "step \"exec\" \"a\" {\n  for_each = [1, 2]\n  shell    = \"true\"\n}\n",
    },
    Bad {
        name: "known only after apply",
        spec: "step \"exec\" \"a\" {\n  shell = \"true\"\n}\nstep \"exec\" \"b\" {\n  count = step.a.exit_code\n  shell = \"true\"\n}\n",
    },
    Bad {
        name: "data source whose arguments are known only after apply",
        spec: "step \"exec\" \"a\" {\n  shell = \"true\"\n}\ndata \"local_file\" \"f\" {\n  path = \"x${step.a.exit_code}\"\n}\nstep \"exec\" \"b\" {\n  for_each = toset([data.local_file.f.content])\n  shell    = \"true\"\n}\n",
    },
    Bad {
        name: "negative count",
        spec: "step \"exec\" \"a\" {\n  count = -1\n  shell = \"true\"\n}\n",
    },
    Bad {
        name: "no such instance",
        spec: "step \"exec\" \"a\" {\n  count = 2\n  shell = \"true\"\n}\nstep \"exec\" \"b\" {\n  shell = \"echo ${step.a[2].exit_code}\"\n}\n",
    },
    Bad {
        name: "sensitive for_each",
        spec: "variable \"t\" {\n  sensitive = true\n  default   = [\"a\"]\n}\nstep \"exec\" \"a\" {\n  for_each = toset(var.t)\n  shell    = \"true\"\n}\n",
    },
];

#[test]
fn expansion_problems_are_located_diagnostics() {
    let mut all = String::new();
    for b in BAD {
        let p = Project::new().file("main.hcl", b.spec);
        let (code, out, err) = p.run(&["validate"]);
        assert_eq!(code, 1, "{}: {out}{err}", b.name);
        all.push_str(&format!("### {}\n{err}\n", b.name));
    }
    insta::assert_snapshot!("instances_diagnostics", all);
}

#[test]
fn empty_for_each_and_zero_count_make_no_instances() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"none\" {\n  count = 0\n  shell = \"true\"\n}\nstep \"exec\" \"also_none\" {\n  for_each = {}\n  shell    = \"true\"\n}\nstep \"exec\" \"after\" {\n  shell      = \"echo ${length(step.none)}\"\n  depends_on = [step.none, step.also_none]\n}\n",
    );
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("instances_empty", out);
}

#[test]
fn a_rollout_inside_a_repeated_module_runs_once_per_instance() {
    let p = Project::new()
        .file(
            "main.hcl",
            "module \"svc\" {\n  source   = \"./m\"\n  for_each = toset([\"api\", \"web\"])\n  name     = each.key\n}\n",
        )
        .file(
            "m/main.hcl",
            "variable \"name\" {}\nrollout \"traffic\" {\n  stages = [10, 100]\n  step \"exec\" \"shift\" {\n    shell = \"echo ${var.name} ${stage.value} >> ../shift.log\"\n  }\n}\n",
        );
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("instances_rollout_in_module", out);
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{err}");
    let log = p.read("../shift.log");
    let pos = |l: &str| log.lines().position(|x| x == l).unwrap();
    assert!(
        pos("api 10") < pos("api 100") && pos("web 10") < pos("web 100"),
        "{log}"
    );
}

#[test]
fn a_rollout_with_for_each_runs_its_stages_once_per_key() {
    let p = Project::new().file(
        "main.hcl",
        r#"variable "services" {
  default = { api = [10, 100], web = [50, 100] }
}

rollout "traffic" {
  for_each = var.services
  stages   = each.value
  step "exec" "shift" {
    shell = "echo ${each.key} ${stage.value} >> log.txt"
  }
  gate "exec" "ok" {
    command = ["true"]
  }
}

step "exec" "after_api" {
  shell      = "echo after_api ${rollout.traffic["api"][100].step.shift.exit_code} >> log.txt"
  depends_on = [rollout.traffic["api"]]
}

step "exec" "after_all" {
  shell      = "echo after_all >> log.txt"
  depends_on = [rollout.traffic]
}
"#,
    );
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("instances_rollout_for_each", out);
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let log = p.read("log.txt");
    let pos = |l: &str| log.lines().position(|x| x == l).unwrap();
    assert!(
        pos("api 10") < pos("api 100") && pos("web 50") < pos("web 100"),
        "{log}"
    );
    assert!(pos("api 100") < pos("after_api 0"), "{log}");
    assert!(
        pos("api 100") < pos("after_all") && pos("web 100") < pos("after_all"),
        "{log}"
    );
    let (code, _, err) = p.run(&["state", "show", "rollout.traffic[\"web\"][50].gate.ok"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_approval_instance_is_approved_by_its_quoted_address() {
    let p = Project::new().file(
        "main.hcl",
        "gate \"approval\" \"go\" {\n  for_each = toset([\"eu\"])\n  interval = \"100ms\"\n  timeout  = \"60s\"\n}\nstep \"exec\" \"shift\" {\n  shell      = \"echo shifted > shifted.txt\"\n  depends_on = [gate.go]\n}\n",
    );
    let (code, out, _) = p.run(&["plan"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("? gate.go[\"eu\"]  waits for `cutover approve 'gate.go[\"eu\"]'`"),
        "{out}"
    );
    let child = p.spawn(&["apply", "-auto-approve"]);
    crate::support::wait_started(&p, "gate.go[\"eu\"]");
    // As a shell passes 'gate.go["eu"]': the quotes are gone, the double quotes stay.
    let (code, out, err) = p.run(&["approve", "gate.go[\"eu\"]"]);
    assert_eq!(code, 0, "{out}{err}");
    let done = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&done.stdout);
    assert_eq!(done.status.code(), Some(0), "{out}");
    assert!(
        out.contains("run `cutover approve 'gate.go[\"eu\"]'`"),
        "{out}"
    );
    assert_eq!(p.read("shifted.txt"), "shifted\n");
}

#[test]
fn rollback_past_takes_instance_addresses() {
    let p = Project::new().file(
        "main.hcl",
        "resource \"local_file\" \"f\" {\n  for_each = toset([\"a\", \"b\"])\n  path     = \"${each.key}.txt\"\n  content  = each.key\n}\nstep \"exec\" \"drop\" {\n  for_each     = toset([\"a\", \"b\"])\n  shell        = \"echo drop ${each.key} >> log.txt\"\n  irreversible = true\n  depends_on   = [local_file.f]\n}\n",
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = p.run(&["rollback", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("(undo past it only with `cutover rollback --past 'step.drop[\"a\"]'`)"),
        "{out}"
    );
    assert!(p.dir.join("a.txt").exists(), "{out}");
    let (code, out, err) = p.run(&[
        "rollback",
        "-auto-approve",
        "--past",
        "step.drop[\"a\"]",
        "--past",
        "step.drop[ \"b\" ]",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !p.dir.join("a.txt").exists() && !p.dir.join("b.txt").exists(),
        "{out}"
    );
}

#[test]
fn for_each_may_use_a_data_source_read_before_expansion() {
    let p = Project::new()
        .file("tenants.json", "{\"acme\": \"db1\", \"globex\": \"db2\"}\n")
        .file(
            "main.hcl",
            "step \"exec\" \"migrate\" {\n  for_each = jsondecode(data.local_file.tenants.content)\n  shell    = \"echo ${each.key} ${each.value} >> log.txt\"\n}\ndata \"local_file\" \"tenants\" {\n  path = \"tenants.json\"\n}\n",
        );
    let (code, out, err) = p.run(&["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut log: Vec<String> = p.read("log.txt").lines().map(str::to_string).collect();
    log.sort();
    assert_eq!(log, ["acme db1", "globex db2"]);
    // A new tenant in the data source is a new instance in the next plan.
    std::fs::write(
        p.dir.join("tenants.json"),
        "{\"acme\": \"db1\", \"globex\": \"db2\", \"initech\": \"db3\"}",
    )
    .unwrap();
    let (code, out, _) = p.run(&["plan"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("> step.migrate[\"initech\"]  not yet run"),
        "{out}"
    );
}
