//! `cutover fmt` against `terraform fmt`, differentially: every file of the
//! corpus in `tests/fixtures/terraform-fmt` (hand-written tricky syntax and
//! examples with their spacing scrambled) must come out of `cutover fmt`
//! byte for byte as `terraform fmt` wrote it. Terraform's answers are kept
//! in `want/` (`generate.sh` writes them); where `terraform` is on PATH the
//! test asks it again and checks the kept answers are still its answers.

use crate::support::{repo, Project};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    repo().join("tests/fixtures/terraform-fmt")
}

fn inputs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tf"))
        .collect();
    names.sort();
    names
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn kept_answers_are_terraforms() {
    let fresh = tempfile::tempdir().unwrap();
    let ran = std::process::Command::new(corpus().join("generate.sh"))
        .arg(fresh.path())
        .output();
    match ran {
        Ok(out) if out.status.success() => {}
        _ => {
            eprintln!("terraform is not available: checking against the kept answers only");
            return;
        }
    }
    for name in inputs() {
        assert_eq!(
            read(&fresh.path().join(&name)),
            read(&corpus().join("want").join(&name)),
            "regenerate want/{name} with generate.sh"
        );
    }
}

#[test]
fn fmt_writes_every_corpus_file_as_terraform_fmt_does() {
    let names = inputs();
    assert!(names.len() >= 50, "the corpus has {} files", names.len());
    let mut p = Project::new();
    for name in &names {
        p = p.file(&name.replace(".tf", ".hcl"), &read(&corpus().join(name)));
    }
    let (code, _, err) = p.run(&["fmt"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let differ: Vec<&String> = names
        .iter()
        .filter(|n| p.read(&n.replace(".tf", ".hcl")) != read(&corpus().join("want").join(n)))
        .collect();
    assert!(
        differ.is_empty(),
        "laid out unlike terraform fmt: {differ:?}"
    );
    // Formatting a formatted file changes nothing.
    assert_eq!(p.run(&["fmt", "-check"]), (0, String::new(), String::new()));
}
