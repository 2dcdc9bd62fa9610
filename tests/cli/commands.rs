//! `init`, `validate`, `fmt`, `graph`, `completions`, help and exit codes.

use crate::support::Project;

#[test]
fn init_scaffolds_a_migration_that_validates_and_plans() {
    let p = Project::new();
    let (code, out, _) = p.run(&["init", "new-mig"]);
    assert_eq!(code, 0);
    assert!(out.contains("Created new-mig/main.hcl"), "{out}");
    let (code, out, err) = p.run(&["-chdir", "new-mig", "validate"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "The migration \"my-migration\" is valid: 3 nodes in 3 waves.\n"
    );
    let (code, out, _) = p.run(&["-chdir=new-mig", "plan"]);
    assert_eq!(code, 0);
    assert!(out.contains("+ local_file.config"), "{out}");
    // init never overwrites an existing migration.
    let (code, _, err) = p.run(&["init", "new-mig"]);
    assert_eq!(code, 1);
    assert!(err.contains("already holds *.hcl files"), "{err}");
    // The scaffold is formatted.
    assert_eq!(p.run(&["fmt", "-check", "new-mig"]).0, 0);
}

#[test]
fn validate_accepts_the_examples() {
    for ex in [
        "examples/quickstart",
        "examples/phase1-rollout",
        "tests/fixtures/rollout3",
    ] {
        let p = Project::example(ex);
        let (code, out, err) = p.run(&["validate"]);
        assert_eq!(code, 0, "{ex}: {err}");
        assert!(out.contains("is valid"), "{out}");
    }
}

#[test]
fn validate_does_not_need_variable_values() {
    let p = Project::new().file("main.hcl", "variable \"db\" {\n  type = string\n}\nstep \"exec\" \"a\" {\n  shell = \"psql ${var.db}\"\n}\n");
    assert_eq!(p.run(&["validate"]).0, 0);
    assert_eq!(p.run(&["plan"]).0, 1);
}

const UGLY: &str = "step \"exec\"   \"a\" {\n# keep me\ncommand=[\"true\"]\n      timeout = \"1m\"\n\n\n\nretry {\nattempts = 3\n}\n}\n";
// Blank lines stay as they are, as in `terraform fmt`.
const PRETTY: &str = "step \"exec\" \"a\" {\n  # keep me\n  command = [\"true\"]\n  timeout = \"1m\"\n\n\n\n  retry {\n    attempts = 3\n  }\n}\n";

#[test]
fn fmt_rewrites_checks_and_diffs() {
    let p = Project::new().file("main.hcl", UGLY);
    let (code, out, _) = p.run(&["fmt", "-check"]);
    assert_eq!((code, out.as_str()), (3, "main.hcl\n"));
    assert_eq!(p.read("main.hcl"), UGLY, "-check changes nothing");
    let (code, out, _) = p.run(&["fmt", "-check", "-diff"]);
    assert_eq!(code, 3);
    assert!(out.contains("--- a/main.hcl\n+++ b/main.hcl\n"), "{out}");
    assert!(
        out.contains("\n-command=[\"true\"]\n") && out.contains("\n+  command = [\"true\"]\n"),
        "{out}"
    );
    let (code, out, _) = p.run(&["fmt"]);
    assert_eq!((code, out.as_str()), (0, "main.hcl\n"));
    assert_eq!(p.read("main.hcl"), PRETTY);
    assert_eq!(p.run(&["fmt", "-check"]), (0, String::new(), String::new()));
}

/// The layout `terraform fmt` gives (checked with it by hand): alignment
/// runs end at a value that opens a bracket, quoted and parenthesised keys
/// align, a `for` arrow stays an arrow, the byte order mark goes, a CRLF
/// file stays CRLF, `"${x}"` as a block's attribute becomes `x`, and a
/// block's labels are quoted.
#[test]
fn fmt_lays_out_as_terraform_fmt_does() {
    let ugly = "\u{feff}gate \"http\" \"x\" {\n  url = \"u\"\n  json = {\n    a      = 1\n    \"/b\" = 2\n    (var.k) = 3\n  }\n  timeout  =  \"1m\"\n  every = \"5s\"\n}\nlocals {\n  m = {\n    for name, v in var.x :\n    name => {\n      a = 1\n    }\n  }\n}\n";
    let pretty = "gate \"http\" \"x\" {\n  url = \"u\"\n  json = {\n    a       = 1\n    \"/b\"    = 2\n    (var.k) = 3\n  }\n  timeout = \"1m\"\n  every   = \"5s\"\n}\nlocals {\n  m = {\n    for name, v in var.x :\n    name => {\n      a = 1\n    }\n  }\n}\n";
    let p = Project::new()
        .file("main.hcl", ugly)
        .file("crlf.hcl", "locals {\r\nx=1\r\n}\r\n")
        .file(
            "unwrap.hcl",
            "locals {\n  a = \"${var.a}\"\n  b = \"${~ var.b}\"\n  c = \"x${var.c}\"\n  m = {\n    k = \"${var.k}\"\n  }\n}\nstep   exec  \"x\" {\n}\n",
        );
    let (code, out, err) = p.run(&["fmt"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "crlf.hcl\nmain.hcl\nunwrap.hcl\n", "")
    );
    assert_eq!(p.read("main.hcl"), pretty);
    assert_eq!(p.read("crlf.hcl"), "locals {\r\n  x = 1\r\n}\r\n");
    // A block's attribute that is one interpolation loses its quotes; an object's keeps them.
    assert_eq!(
        p.read("unwrap.hcl"),
        "locals {\n  a = var.a\n  b = var.b\n  c = \"x${var.c}\"\n  m = {\n    k = \"${var.k}\"\n  }\n}\nstep \"exec\" \"x\" {\n}\n"
    );
    assert_eq!(p.run(&["fmt", "-check"]), (0, String::new(), String::new()));
}

#[test]
fn fmt_recursive_formats_the_modules_inside() {
    let ugly = "a=1\n";
    let p = Project::new()
        .file("main.hcl", ugly)
        .file("modules/copy/main.hcl", ugly)
        .file("modules/copy/deep/more.hcl", ugly)
        .file(".cutover/kept.hcl", ugly);
    assert_eq!(p.run(&["fmt"]), (0, "main.hcl\n".into(), String::new()));
    assert_eq!(p.read("modules/copy/main.hcl"), ugly, "without -recursive");
    let (code, out, err) = p.run(&["fmt", "-recursive"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "modules/copy/deep/more.hcl\nmodules/copy/main.hcl\n", "")
    );
    assert_eq!(p.read("modules/copy/deep/more.hcl"), "a = 1\n");
    assert_eq!(
        p.read(".cutover/kept.hcl"),
        ugly,
        "hidden directories are skipped"
    );
}

#[test]
fn fmt_recursive_formats_the_local_modules_a_migration_calls() {
    let ugly = "a=1\n";
    let p = Project::new()
        .file(
            "migration/main.hcl",
            "module \"copy\" {\n  source = \"../shared/copy\"\n}\n",
        )
        .file(
            "shared/copy/main.hcl",
            "module \"inner\" {\n  source = \"./inner\"\n}\n",
        )
        .file("shared/copy/inner/main.hcl", ugly)
        .file("shared/unused/main.hcl", ugly);
    let (code, out, err) = p.run(&["fmt", "-check", "-recursive", "migration"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (3, "shared/copy/inner/main.hcl\n", "")
    );
    assert_eq!(
        p.run(&["fmt", "-check", "migration"]).0,
        0,
        "without -recursive"
    );
    assert_eq!(p.read("shared/unused/main.hcl"), ugly);
}

#[test]
fn fmt_refuses_malformed_files() {
    let p = Project::new().file("main.hcl", "step \"exec\" \"a\" {\n");
    let (code, _, err) = p.run(&["fmt"]);
    assert_eq!(code, 1);
    assert!(err.contains("Malformed HCL"), "{err}");
    assert_eq!(p.read("main.hcl"), "step \"exec\" \"a\" {\n");
}

#[test]
fn examples_and_modules_are_formatted() {
    let repo = crate::support::repo();
    for dir in [
        "examples/quickstart",
        "modules/backed-up-file",
        "tests/fixtures/rollout3",
    ] {
        let out = assert_cmd::Command::cargo_bin("cutover")
            .unwrap()
            .args(["fmt", "-check"])
            .arg(repo.join(dir))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{dir} is not formatted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn graph_renders_dot_and_mermaid() {
    let p = Project::example("tests/fixtures/rollout3");
    let (code, dot, _) = p.run(&["graph"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("rollout3_dot", dot);
    let (_, mermaid, _) = p.run(&["graph", "--format", "mermaid"]);
    insta::assert_snapshot!("rollout3_mermaid", mermaid);
}

#[test]
fn completions_and_help() {
    let p = Project::new();
    let (code, out, _) = p.run(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(out.contains("_cutover()"), "{out}");
    let (code, out, _) = p.run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit codes:")
            && out.contains("2  `plan -detailed-exitcode`: the plan has changes")
            && out.contains("4  apply ran everything except fleet targets that failed")
            && out.contains("-target 'module.tenant[\"b\"]'"),
        "{out}"
    );
    let (code, _, err) = p.run(&["frobnicate"]);
    assert_eq!(code, 1);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

#[test]
fn single_dash_flags_work_like_terraform() {
    let p = Project::example("tests/fixtures/rollout3");
    let gnu = p.run(&[
        "--no-color",
        "plan",
        "--target",
        "step.snapshot",
        "--detailed-exitcode",
    ]);
    let tf = p.run(&[
        "-no-color",
        "plan",
        "-target=step.snapshot",
        "-detailed-exitcode",
    ]);
    assert_eq!(gnu, tf);
    assert_eq!(tf.0, 2);
}
