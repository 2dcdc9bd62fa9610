//! Variables from flags, files and the environment; modules and their inputs.

use crate::support::Project;

const SPEC: &str = "variable \"color\" {\n  type = string\n  default = \"blue\"\n}\nvariable \"replicas\" {\n  type = number\n  default = 1\n}\nresource \"local_file\" \"out\" {\n  path = \"out.txt\"\n  content = \"${var.color} x${var.replicas * 2}\"\n}\n";

fn content(p: &Project, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = p.cmd();
    c.args(["plan", "--format", "json"]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["nodes"][0]["attributes"]["content"]["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn precedence_default_env_file_flag() {
    let p = Project::new()
        .file("main.hcl", SPEC)
        .file("prod.vars.hcl", "color = \"red\"\nreplicas = 3\n");
    assert_eq!(content(&p, &[], &[]), "blue x2");
    assert_eq!(
        content(&p, &[], &[("CUTOVER_VAR_color", "green")]),
        "green x2"
    );
    assert_eq!(
        content(
            &p,
            &["-var-file", "prod.vars.hcl"],
            &[("CUTOVER_VAR_color", "green")]
        ),
        "red x6"
    );
    assert_eq!(
        content(
            &p,
            &["-var-file", "prod.vars.hcl", "-var", "replicas=5"],
            &[]
        ),
        "red x10"
    );
    assert_eq!(content(&p, &["-var", "color=a=b"], &[]), "a=b x2");
}

#[test]
fn modules_take_inputs_and_give_outputs() {
    let p = Project::new()
        .file(
            "main.hcl",
            "module \"cfg\" {\n  source = \"./modules/cfg\"\n  name = \"api\"\n}\nresource \"local_file\" \"summary\" {\n  path = \"summary.txt\"\n  content = module.cfg.file\n}\n",
        )
        .file(
            "modules/cfg/main.hcl",
            "variable \"name\" {\n  type = string\n}\nlocals {\n  file = \"${var.name}.conf\"\n}\nresource \"local_file\" \"conf\" {\n  path = local.file\n  content = upper(var.name)\n}\noutput \"file\" {\n  value = local_file.conf.path\n}\n",
        );
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("+ module.cfg.local_file.conf"), "{out}");
    assert!(out.contains("+ content = \"API\""), "{out}");
    assert!(out.contains("+ content = \"api.conf\""), "{out}");
    // The module's node comes first: summary reads its output.
    assert!(
        out.find("module.cfg.local_file.conf").unwrap() < out.find("local_file.summary").unwrap()
    );
}

#[test]
fn sensitive_variables_stay_hidden_through_locals_and_modules() {
    let p = Project::new()
        .file("main.hcl", "variable \"pw\" {\n  type = string\n  sensitive = true\n}\nlocals {\n  dsn = \"postgres://app:${var.pw}@db/app\"\n}\nstep \"exec\" \"migrate\" {\n  shell = \"migrate --dsn ${local.dsn}\"\n}\n");
    let (code, out, err) = p.run(&["plan", "-var", "pw=hunter2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shell = (sensitive)"), "{out}");
    assert!(!out.contains("hunter2"));
}
