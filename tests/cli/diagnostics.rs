//! Bad input: every case exits 1, changes nothing, and names the problem
//! with its summary, a helpful detail and the file:line:column it is at.

use crate::support::Project;

struct Case {
    name: &'static str,
    spec: &'static str,
    extra: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    expect: &'static [&'static str],
}

const OK_STEP: &str = "step \"exec\" \"backup\" {\n  shell = \"true\"\n}\n";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "malformed HCL",
            spec: "step \"exec\" \"a\" {\n  shell = \"x\"\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Malformed HCL", "expected `}`", "--> main.hcl:2:14"],
        },
        Case {
            name: "unterminated string",
            spec: "step \"exec\" \"a\" {\n  shell = \"x\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Malformed HCL", "--> main.hcl:2:"],
        },
        Case {
            name: "empty heredoc whose marker comes again",
            spec: "locals {\n  a = <<EOT\nEOT\n  b = <<EOT\ntext\nEOT\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Ambiguous empty heredoc", "Terraform ends the heredoc at once", "--> main.hcl:2:7"],
        },
        Case {
            name: "heredoc closed only mid-line",
            spec: "locals {\n  a = upper(<<EOT\nx\nEOT)\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unterminated heredoc", "nothing but its marker", "--> main.hcl:2:13"],
        },
        Case {
            name: "unknown top-level block",
            spec: "stepp \"exec\" \"a\" {\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unsupported block type", "Did you mean `step`?", "--> main.hcl:1:1", "1 | stepp \"exec\" \"a\" {", "  | ^^^^^^^^^^^^^^^^"],
        },
        Case {
            name: "top-level attribute",
            spec: "region = \"eu-west-1\"\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unexpected attribute", "`region` cannot be set at the top level", "--> main.hcl:1:1"],
        },
        Case {
            name: "missing label",
            spec: "step \"exec\" {\n  shell = \"x\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Wrong number of block labels", "takes 2 label(s)", "--> main.hcl:1:1"],
        },
        Case {
            name: "unknown step type",
            spec: "step \"exe\" \"a\" {\n  shell = \"x\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unknown block type", "No provider serves step \"exe\". Did you mean \"exec\"?", "--> main.hcl:1:6"],
        },
        Case {
            name: "unknown resource type",
            spec: "resource \"nope_thing\" \"a\" {\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unknown block type", "No provider serves resource \"nope_thing\". Known resource types: aws_appautoscaling_policy", "local_file.", "--> main.hcl:1:10"],
        },
        Case {
            name: "unknown attribute with suggestion",
            spec: "step \"exec\" \"a\" {\n  comand = [\"ls\"]\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unsupported argument", "`comand` is not expected in a step \"exec\" block. Did you mean `command`?", "--> main.hcl:2:3"],
        },
        Case {
            name: "missing required attribute",
            spec: "step \"wait\" \"pause\" {\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Missing required argument", "The argument `duration` is required in a step \"wait\" block", "--> main.hcl:1:1"],
        },
        Case {
            name: "command and shell both set",
            spec: "step \"exec\" \"a\" {\n  command = [\"ls\"]\n  shell = \"ls\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid combination of arguments", "exactly one of `command` or `shell`; command and shell are set", "--> main.hcl:1:1"],
        },
        Case {
            name: "neither command nor shell",
            spec: "gate \"exec\" \"a\" {\n  timeout = \"1m\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid combination of arguments", "none is set", "--> main.hcl:1:1"],
        },
        Case {
            name: "wrong literal type",
            spec: "step \"exec\" \"a\" {\n  command = \"ls -l\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Incorrect attribute value type", "Invalid value for `command`: expected a list of strings, got a string.", "--> main.hcl:2:13"],
        },
        Case {
            name: "invalid duration",
            spec: "step \"wait\" \"pause\" {\n  duration = \"5 minutes\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Incorrect attribute value type", "\"5 minutes\" is not a duration", "--> main.hcl:2:14"],
        },
        Case {
            name: "invalid duration after evaluation",
            spec: "variable \"t\" {\n  default = \"soon\"\n}\nstep \"exec\" \"a\" {\n  shell = \"x\"\n  timeout = var.t\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Incorrect attribute value type", "\"soon\" is not a duration", "--> main.hcl:6:13"],
        },
        Case {
            name: "unknown reference with suggestion",
            spec: "step \"exec\" \"backup\" {\n  shell = \"true\"\n}\nstep \"exec\" \"b\" {\n  shell = \"true\"\n  depends_on = [step.bakup]\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Reference to undeclared object", "`step.bakup` refers to a block that is not declared. Did you mean step.backup?", "--> main.hcl:6:17", "  |                 ^^^^^^^^^^"],
        },
        Case {
            name: "unknown variable in a template",
            spec: "variable \"port\" {\n  default = 80\n}\nstep \"exec\" \"a\" {\n  shell = \"curl :${var.prot}\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Reference to undeclared object", "Did you mean var.port?", "--> main.hcl:5:20"],
        },
        Case {
            name: "unknown local",
            spec: "locals {\n  dir = \"/tmp\"\n}\nstep \"exec\" \"a\" {\n  shell = local.dri\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Reference to undeclared object", "a local value that is not declared. Did you mean local.dir?", "--> main.hcl:5:11"],
        },
        Case {
            name: "dependency cycle",
            spec: "step \"exec\" \"a\" {\n  shell = \"true\"\n  depends_on = [step.b]\n}\nstep \"exec\" \"b\" {\n  shell = \"true\"\n  depends_on = [step.a]\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Dependency cycle", "step.a → step.b → step.a", "Removing any one of these dependencies breaks it: step.a → step.b (main.hcl:7:17), step.b → step.a (main.hcl:3:17).", "--> main.hcl:7:17"],
        },
        Case {
            name: "node referencing itself",
            spec: "step \"exec\" \"a\" {\n  shell = \"echo ${step.a.stdout}\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Dependency cycle", "A node and itself depend on each other: step.a → step.a", "--> main.hcl:2:19", "  |                   ^^^^^^^^^^^^^"],
        },
        Case {
            name: "cycle through a local",
            spec: "locals {\n  x = step.b.stdout\n}\nstep \"exec\" \"a\" {\n  shell = local.x\n}\nstep \"exec\" \"b\" {\n  shell = step.a.stdout\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Dependency cycle", "step.a → step.b → step.a"],
        },
        Case {
            name: "missing variable value",
            spec: "variable \"db_url\" {\n  type = string\n  sensitive = true\n}\n",
            extra: &[],
            args: &["plan"],
            expect: &["Error: No value for required variable", "Set it with -var db_url=VALUE, in a -var-file, or with CUTOVER_VAR_db_url.", "--> main.hcl:1:1"],
        },
        Case {
            name: "variable of the wrong type",
            spec: "variable \"replicas\" {\n  type = number\n}\n",
            extra: &[],
            args: &["plan", "-var", "replicas=three"],
            expect: &["Error: Invalid value for variable", "The value of \"replicas\" from -var replicas is invalid: a number is required, got \"three\".", "--> main.hcl:1:1"],
        },
        Case {
            name: "variable validation",
            spec: "variable \"percent\" {\n  type = number\n  default = 150\n  validation {\n    condition = var.percent <= 100\n    error_message = \"A percentage is at most 100.\"\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid value for variable", "A percentage is at most 100. (variable \"percent\")", "--> main.hcl:5:17"],
        },
        Case {
            name: "value for an undeclared variable",
            spec: OK_STEP,
            extra: &[],
            args: &["plan", "-var", "region=eu"],
            expect: &["Error: Value for undeclared variable", "the spec declares no variable \"region\""],
        },
        Case {
            name: "invalid type constraint",
            spec: "variable \"x\" {\n  type = strin\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid type specification", "`strin` is not a type", "--> main.hcl:2:10"],
        },
        Case {
            name: "duplicate block",
            spec: "step \"exec\" \"a\" {\n  shell = \"x\"\n}\nstep \"exec\" \"a\" {\n  shell = \"y\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Duplicate block", "The block `step.a` is already declared at ./main.hcl:1", "--> main.hcl:4:1"],
        },
        Case {
            name: "failure limit of zero",
            spec: "gate \"exec\" \"g\" {\n  shell = \"true\"\n  failure_limit = 0\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Incorrect attribute value type", "Invalid value for `failure_limit`: expected a whole number of at least 1, got a number.", "--> main.hcl:3:19"],
        },
        Case {
            name: "malformed time window",
            spec: "gate \"window\" \"w\" {\n  window = \"Saturday night\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Incorrect attribute value type", "\"Saturday night\" is not a time window; expected [DAYS] HH:MM-HH:MM [UTC|+HH:MM]", "--> main.hcl:2:12"],
        },
        Case {
            name: "notify block without a webhook",
            spec: "migration \"m\" {\n  notify {\n    events = [\"finish\"]\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid notify block", "either `webhook` (the URL) or `webhook_env`", "--> main.hcl:2:3"],
        },
        Case {
            name: "notify block with an unknown event",
            spec: "migration \"m\" {\n  notify {\n    webhook = \"http://x\"\n    events = [\"finished\"]\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Incorrect attribute value type", "a list of event kinds: \"start\", \"wave\", \"approval\", \"failure\", \"rollback\", \"finish\"", "--> main.hcl:4:14"],
        },
        Case {
            name: "duplicate attribute",
            spec: "step \"exec\" \"a\" {\n  shell = \"x\"\n  shell = \"y\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Malformed HCL", "found redefined attribute", "--> main.hcl:3:3"],
        },
        Case {
            name: "two unordered blocks for one file",
            spec: "resource \"local_file\" \"a\" {\n  path = \"x.txt\"\n  content = \"a\"\n}\nresource \"local_file\" \"b\" {\n  path = \"x.txt\"\n  content = \"b\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unordered blocks for one object", "`local_file.a` and `local_file.b` both manage local_file path=\"x.txt\"", "--> main.hcl:5:1"],
        },
        Case {
            name: "module directory missing",
            spec: "module \"db\" {\n  source = \"./modules/nope\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Module not found", "The module source \"./modules/nope\" is not a directory", "--> main.hcl:2:12"],
        },
        Case {
            name: "module input not declared",
            spec: "module \"m\" {\n  source = \"./m\"\n  pth = \"a\"\n}\n",
            extra: &[("m/main.hcl", "variable \"path\" {\n  type = string\n}\n")],
            args: &["validate"],
            expect: &["Error: Unsupported argument", "The module \"m\" declares no variable `pth`. Did you mean `path`?", "--> main.hcl:3:3"],
        },
        Case {
            name: "module input missing",
            spec: "module \"m\" {\n  source = \"./m\"\n}\n",
            extra: &[("m/main.hcl", "variable \"path\" {\n  type = string\n}\n")],
            args: &["validate"],
            expect: &["Error: Missing required argument", "The module \"m\" requires the input `path`", "--> main.hcl:1:1"],
        },
        Case {
            name: "error inside a module names the module file",
            spec: "module \"m\" {\n  source = \"./m\"\n}\n",
            extra: &[("m/main.hcl", "step \"exec\" \"x\" {\n  shel = \"true\"\n}\n")],
            args: &["validate"],
            expect: &["Error: Unsupported argument", "Did you mean `shell`?", "--> m/main.hcl:2:3"],
        },
        Case {
            name: "rollout without stages",
            spec: "rollout \"traffic\" {\n  step \"wait\" \"w\" {\n    duration = \"1s\"\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Missing required argument", "The argument `stages` is required in a rollout", "--> main.hcl:1:1"],
        },
        Case {
            name: "rollout stages not a list",
            spec: "rollout \"traffic\" {\n  stages = 10\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid rollout stages", "`stages` must be a list of numbers or strings", "--> main.hcl:2:12"],
        },
        Case {
            name: "rollout stage repeated",
            spec: "rollout \"traffic\" {\n  stages = [10, 50, 10]\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid rollout stages", "stage 10 appears twice", "--> main.hcl:2:12"],
        },
        Case {
            name: "stage outside a rollout",
            spec: "step \"exec\" \"a\" {\n  shell = \"echo ${stage.value}\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid reference", "`stage` is only available inside a rollout block", "--> main.hcl:2:19"],
        },
        Case {
            name: "data block inside a rollout",
            spec: "rollout \"r\" {\n  stages = [1]\n  data \"http\" \"x\" {\n    url = \"http://127.0.0.1:1/\"\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unsupported block type", "`data` blocks are read once at plan time", "--> main.hcl:3:3"],
        },
        Case {
            name: "depends_on not a list",
            spec: "step \"exec\" \"backup\" {\n  shell = \"true\"\n}\nstep \"exec\" \"b\" {\n  shell = \"true\"\n  depends_on = step.backup\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid depends_on", "must be a list of addresses", "--> main.hcl:6:16"],
        },
        Case {
            name: "depends_on element not an address",
            spec: "step \"exec\" \"backup\" {\n  shell = \"true\"\n}\nstep \"exec\" \"b\" {\n  shell = \"true\"\n  depends_on = [step.backup, \"gate.x\"]\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid depends_on", "Each element of `depends_on` must be a bare address", "--> main.hcl:6:16"],
        },
        Case {
            // Five files: they are loaded side by side, and the second
            // migration block is still found, in the later file.
            name: "migration block in two of many files",
            spec: "migration \"one\" {}\n",
            extra: &[
                ("b.hcl", "step \"wait\" \"b\" {\n  duration = \"0s\"\n}\n"),
                ("c.hcl", "step \"wait\" \"c\" {\n  duration = \"0s\"\n}\n"),
                ("d.hcl", "step \"wait\" \"d\" {\n  duration = \"0s\"\n}\n"),
                ("z.hcl", "\nmigration \"two\" {}\n"),
            ],
            args: &["validate"],
            expect: &["Error: Duplicate migration block", "another is declared at ./main.hcl:1", "--> z.hcl:2:1"],
        },
        Case {
            name: "invalid on_failure",
            spec: "migration \"m\" {\n  on_failure = \"panic\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Incorrect attribute value type", "Expected \"rollback\" or \"stop\", got `\"panic\"`.", "--> main.hcl:2:16"],
        },
        Case {
            name: "unknown function",
            spec: "step \"exec\" \"a\" {\n  shell = uppr(\"x\")\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid expression", "Evaluating `uppr(\"x\")` failed: undefined function `uppr`", "--> main.hcl:2:11"],
        },
        Case {
            name: "function error",
            spec: "step \"exec\" \"a\" {\n  shell = tonumber(\"ten\")\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Invalid expression", "cannot convert \"ten\" to number", "--> main.hcl:2:11"],
        },
        Case {
            name: "unsupported nested block",
            spec: "step \"wait\" \"w\" {\n  duration = \"1s\"\n  rollback {\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unsupported block type", "Blocks of type `rollback` are not expected in a step \"wait\" block.", "--> main.hcl:3:3"],
        },
        Case {
            name: "unknown target",
            spec: OK_STEP,
            extra: &[],
            args: &["plan", "-target", "step.bakup"],
            expect: &["Error: Invalid target address", "-target step.bakup: no node has this address. Did you mean step.backup?"],
        },
        Case {
            name: "unknown provider",
            spec: "provider \"loacl\" {\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unknown provider", "No provider is named \"loacl\". Did you mean \"local\"?", "--> main.hcl:1:1"],
        },
        Case {
            name: "provider setting it does not take",
            spec: "provider \"http\" {\n  region = \"eu-west-1\"\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unsupported argument", "`region` is not expected in a provider \"http\" block.", "--> main.hcl:2:3"],
        },
        Case {
            name: "no spec files",
            spec: "",
            extra: &[],
            args: &["validate"],
            expect: &["Error: No spec files", "holds no *.hcl files"],
        },
        Case {
            name: "unreadable var file",
            spec: OK_STEP,
            extra: &[],
            args: &["plan", "-var-file", "nope.hcl"],
            expect: &["Error: Cannot read variable file", "nope.hcl"],
        },
        Case {
            name: "var file assigns an undeclared variable",
            spec: OK_STEP,
            extra: &[("prod.vars.hcl", "regoin = \"eu\"\n")],
            args: &["plan", "-var-file", "prod.vars.hcl"],
            expect: &["Error: Value for undeclared variable", "The spec declares no variable \"regoin\".", "--> prod.vars.hcl:1:1"],
        },
        Case {
            name: "a loop with nothing to end it",
            spec: "step \"exec\" \"batches\" {\n  shell = \"true\"\n  repeat {\n    pause = \"1s\"\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Missing end of loop", "--> main.hcl:3:3", "A repeat block needs `until`"],
        },
        Case {
            name: "repeat on a step type that does not repeat",
            spec: "step \"wait\" \"w\" {\n  duration = \"1s\"\n  repeat {\n    until = \"true\"\n  }\n}\n",
            extra: &[],
            args: &["validate"],
            expect: &["Error: Unsupported block type", "--> main.hcl:3:3", "Expected one of: retry, fleet."],
        },
    ]
}

#[test]
fn every_bad_input_gets_a_located_diagnostic_and_changes_nothing() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 30);
    for case in &all {
        let mut p = Project::new();
        if !case.spec.is_empty() {
            p = p.file("main.hcl", case.spec);
        }
        for (path, content) in case.extra {
            p = p.file(path, content);
        }
        let before = listing(&p.dir);
        let (code, stdout, stderr) = p.run(case.args);
        let mut problems = Vec::new();
        if code != 1 {
            problems.push(format!("exit code {code}"));
        }
        for e in case.expect {
            if !stderr.contains(e) {
                problems.push(format!("missing {e:?}"));
            }
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if !stdout.is_empty() {
            problems.push(format!("printed to stdout: {stdout}"));
        }
        if listing(&p.dir) != before {
            problems.push("changed files".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{stderr}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn all_problems_are_reported_at_once_in_source_order() {
    let p = Project::new()
        .file("b.hcl", "step \"exec\" \"x\" {\n  shel = \"true\"\n}\n")
        .file("a.hcl", "step \"wait\" \"w\" {\n  duraton = \"1s\"\n}\ngate \"exec\" \"g\" {\n  shell = \"true\"\n  depends_on = [step.nope]\n}\n");
    let (code, _, stderr) = p.run(&["validate"]);
    assert_eq!(code, 1);
    let order: Vec<usize> = ["a.hcl:2:3", "b.hcl:2:3"]
        .iter()
        .map(|l| stderr.find(l).unwrap_or_else(|| panic!("{l} in {stderr}")))
        .collect();
    assert!(order[0] < order[1], "{stderr}");
    assert!(
        stderr.contains("problems found; nothing was changed."),
        "{stderr}"
    );
}

/// Every input the fuzzer (`fuzz/`, `cargo +nightly fuzz run spec`) or a
/// person found to crash the front end, replayed through `validate`, `plan`
/// and `fmt -check`: each ends in a located diagnostic or a valid spec,
/// never a panic.
#[test]
fn inputs_that_once_crashed_the_front_end_get_diagnostics() {
    let dir = crate::support::repo().join("tests/fixtures/fuzz");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut report = String::new();
    for name in names {
        let p = Project::new();
        std::fs::copy(dir.join(&name), p.dir.join("main.hcl")).unwrap();
        report.push_str(&format!("== {name}\n"));
        for args in [&["validate"][..], &["plan"], &["fmt", "-check"]] {
            let (code, out, err) = p.run(args);
            assert!(
                matches!(code, 0..=3) && !err.contains("panicked"),
                "{name}: cutover {args:?} exited {code}:\n{out}{err}"
            );
            if args == ["validate"] {
                report.push_str(&format!("exit {code}\n{out}{err}"));
            }
        }
    }
    insta::assert_snapshot!("fuzz_regressions", report);
}
