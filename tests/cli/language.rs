//! Terraform's expression language, differentially: every expression of a
//! corpus in `tests/fixtures/terraform-language` evaluated by cutover (as
//! an output) must give the value the real `terraform console` gave, or an
//! error where it gave one. The answers are kept beside the corpus
//! (`generate.py` writes them); where `terraform` is on PATH the test asks
//! it again and checks the kept answers are still its answers.

use crate::support::{repo, Project};
use serde_json::Value;

fn answers(name: &str) -> Value {
    let path = repo().join(format!("tests/fixtures/terraform-language/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The kept answers are what this machine's Terraform says, when it has one.
fn kept_answers_are_terraforms(name: &str) {
    let dir = repo().join("tests/fixtures/terraform-language");
    let fresh = tempfile::tempdir()
        .unwrap()
        .keep()
        .join(format!("{name}.json"));
    let ran = std::process::Command::new(dir.join("generate.py"))
        .arg(dir.join(format!("{name}.txt")))
        .arg(&fresh)
        .output();
    let Ok(out) = ran else { return };
    if !out.status.success() {
        eprintln!("terraform is not available: checking against the kept answers only");
        return;
    }
    let fresh: Value = serde_json::from_str(&std::fs::read_to_string(&fresh).unwrap()).unwrap();
    assert_eq!(
        fresh["cases"],
        answers(name)["cases"],
        "regenerate {name}.json with generate.py"
    );
}

/// What cutover makes of `expr`: its value, or the error it reports.
/// `locals` are the values the corpus refers to, given to Terraform as `NAME.tf`.
fn evaluate(expr: &str, locals: Option<&str>) -> Result<Value, String> {
    let mut p = Project::new().file(
        "main.hcl",
        &format!("output \"v\" {{\n  value = {expr}\n}}\n"),
    );
    if let Some(locals) = locals {
        p = p.file("locals.hcl", locals);
    }
    // The files the file functions read, byte for byte as the generator gives them to Terraform.
    copy_tree(
        &repo().join("tests/fixtures/terraform-language/files"),
        &p.dir.join("files"),
    );
    output(&p)
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap().path();
        let dest = to.join(f.file_name().unwrap());
        if f.is_dir() {
            copy_tree(&f, &dest);
        } else {
            std::fs::copy(&f, dest).unwrap();
        }
    }
}

/// The value of output `v` of the migration in `p`, or the error planning it gave.
fn output(p: &Project) -> Result<Value, String> {
    let (code, out, err) = p.run(&["plan", "--format", "json"]);
    if code != 0 {
        return Err(err);
    }
    let plan: Value = serde_json::from_str(&out).unwrap();
    Ok(plan["outputs"]["v"]["value"].clone())
}

fn differential(name: &str) {
    kept_answers_are_terraforms(name);
    let locals = std::fs::read_to_string(
        repo().join(format!("tests/fixtures/terraform-language/{name}.tf")),
    )
    .ok();
    let mut wrong = Vec::new();
    for case in answers(name)["cases"].as_array().unwrap() {
        let expr = case["expr"].as_str().unwrap();
        match (
            evaluate(expr, locals.as_deref()),
            case.get("value"),
            case.get("error"),
        ) {
            (Ok(got), Some(want), _) if &got == want => {}
            // The error, up to its first colon: what went wrong, if not every detail.
            (Err(err), _, Some(Value::String(want)))
                if err.contains(want.split(": ").next().unwrap_or(want)) => {}
            (got, want, error) => wrong.push(format!(
                "{expr}\n    terraform: {}\n    cutover:   {got:?}",
                want.or(error).unwrap()
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} differences:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn format_and_formatlist_give_terraforms_values_and_errors() {
    differential("format");
}

#[test]
fn string_regex_encoding_and_hash_functions_give_terraforms_values_and_errors() {
    differential("strings");
}

#[test]
fn list_set_and_numeric_functions_give_terraforms_values_and_errors() {
    differential("lists");
}

#[test]
fn json_and_conversion_functions_give_terraforms_values_and_errors() {
    differential("encoding");
}

#[test]
fn network_functions_give_terraforms_values_and_errors() {
    differential("network");
}

#[test]
fn date_and_time_functions_give_terraforms_values_and_errors() {
    differential("time");
}

#[test]
fn file_path_csv_and_uuid_functions_give_terraforms_values_and_errors() {
    differential("files");
}

#[test]
fn operators_conversions_conditionals_for_and_try_give_terraforms_values_and_errors() {
    differential("language");
}

#[test]
fn templates_and_templatestring_give_terraforms_values_and_errors() {
    differential("templates");
}

#[test]
fn yaml_functions_give_terraforms_values_layout_and_errors() {
    differential("yaml");
}

#[test]
fn a_template_for_directive_binds_its_variables_and_checks_its_collection() {
    let spec = "variable \"hosts\" {\n  default = [\"a\", \"b\"]\n}\n\noutput \"v\" {\n  value = \"%{ for i, h in var.hosts }${i}=${h};%{ endfor }\"\n}\n";
    assert_eq!(
        evaluate_spec(spec),
        Ok(Value::from("0=a;1=b;")),
        "the loop's variables are its own"
    );
    let bad = spec.replace("var.hosts", "var.nope");
    let err = evaluate_spec(&bad).unwrap_err();
    assert!(
        err.contains("main.hcl:6:27") && err.contains("`var.nope` refers to"),
        "{err}"
    );
}

/// What cutover makes of a whole spec's output `v`.
fn evaluate_spec(spec: &str) -> Result<Value, String> {
    output(&Project::new().file("main.hcl", spec))
}

/// `sensitive()` marks a value, `nonsensitive()` lifts the mark, `issensitive()`
/// asks; without them anything read from a sensitive value stays sensitive.
#[test]
fn sensitivity_functions_mark_and_unmark_values() {
    let p = Project::new().file(
        "main.hcl",
        r#"variable "token" {
  default   = "canary-7f3a9c"
  sensitive = true
}
output "marked" {
  value = sensitive("plain")
}
output "derived" {
  value = upper(var.token)
}
output "unmarked" {
  value = nonsensitive(length(var.token))
}
output "asked" {
  value = [issensitive(var.token), issensitive("a"), issensitive(sensitive(1)), issensitive(nonsensitive(var.token))]
}
output "mixed" {
  value = "${nonsensitive(length(var.token))}-${var.token}"
}
"#,
    );
    let (code, out, err) = p.run(&["plan", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("canary-7f3a9c") && !err.contains("canary-7f3a9c"));
    let plan: Value = serde_json::from_str(&out).unwrap();
    let shown: Vec<(String, Value)> = ["marked", "derived", "unmarked", "asked", "mixed"]
        .iter()
        .map(|n| (n.to_string(), plan["outputs"][n].clone()))
        .collect();
    insta::assert_json_snapshot!(shown);
}
