//! `data "terraform_outputs"`: outputs read from a state written by the real
//! `terraform` binary and from `terraform output -json`, sensitive outputs
//! kept secret, and states of other format versions refused.

use crate::support::{repo, Project};

/// The migration reads `infra/terraform.tfstate`: written here by `terraform
/// apply` (the real binary, with `colour = "green"`), or — on a machine
/// without Terraform — the state the same command wrote, kept in the fixtures.
fn with_state() -> Project {
    let p = Project::example("examples/from-terraform");
    let infra = p.dir.join("infra");
    let terraform = |args: &[&str]| {
        std::process::Command::new("terraform")
            .current_dir(&infra)
            .args(args)
            .env("TF_IN_AUTOMATION", "1")
            .output()
    };
    match terraform(&["init", "-input=false"]) {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = terraform(&[
                "apply",
                "-auto-approve",
                "-input=false",
                "-var",
                "colour=green",
            ])
            .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => {
            eprintln!("terraform is not installed: using the state it wrote, from tests/fixtures");
            std::fs::copy(
                repo().join("tests/fixtures/terraform-state/green.tfstate"),
                infra.join("terraform.tfstate"),
            )
            .unwrap();
        }
    }
    p
}

/// Every file under `dir` except Terraform's own, with its content.
fn files(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "infra" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn outputs_come_from_a_state_terraform_wrote_and_secrets_stay_secret() {
    let p = with_state();
    let (code, plan, err) = p.run(&["plan", "-no-color", "-out", "plan.out"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("terraform_outputs_plan", plan);
    let (code, out, err) = p.run(&["apply", "-auto-approve", "plan.out"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        p.read("state/router.json"),
        "{\"listener\":\"arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/green\"}"
    );
    // The step ran with the password in its environment.
    let mut registered: Vec<String> = p
        .read("state/registered.txt")
        .lines()
        .map(String::from)
        .collect();
    registered.sort();
    assert_eq!(registered, ["acme", "globex"]);
    let (_, shown, _) = p.run(&["show"]);
    let (_, outputs, _) = p.run(&["output"]);
    let mut written = Vec::new();
    files(&p.dir, &mut written);
    for (what, text) in written
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .chain([
            ("plan", plan.as_str()),
            ("apply", out.as_str()),
            ("show", &shown),
            ("output", &outputs),
        ])
    {
        assert!(
            !text.contains("s3cret-green"),
            "the password is in {what}:\n{text}"
        );
    }
}

#[test]
fn outputs_come_from_terraform_output_json_too() {
    let p = with_state();
    std::fs::copy(
        repo().join("tests/fixtures/terraform-state/green-output.json"),
        p.dir.join("outputs.json"),
    )
    .unwrap();
    let (code, plan, err) = p.run(&["plan", "--format", "json", "-var", "state=outputs.json"]);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(
        plan["outputs"]["listener"]["value"],
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/green"
    );
}

#[test]
fn a_state_of_another_format_version_is_a_clear_error() {
    let p = with_state();
    std::fs::copy(
        repo().join("tests/fixtures/terraform-state/version3.tfstate"),
        p.dir.join("old.tfstate"),
    )
    .unwrap();
    let (code, out, err) = p.run(&["plan", "-var", "state=old.tfstate"]);
    assert_eq!(code, 1, "{out}");
    insta::assert_snapshot!("terraform_outputs_version3", err);
}
