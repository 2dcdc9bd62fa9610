//! The journal never silently loses state: only a torn last record is
//! ignored; any other damage stops every command that reads state, with its
//! line, files untouched, until `cutover state repair`.

use crate::support::{wait_started, Project};
use std::process::Command;

const SPEC: &str = r#"
migration "journal" {}

step "exec" "one" {
  shell = "echo one >> ran.log"
}

step "exec" "two" {
  shell      = "echo two >> ran.log"
  depends_on = [step.one]
}

step "exec" "three" {
  shell      = "sleep 5"
  idempotent = true
  depends_on = [step.two]
}
"#;

/// A migration killed while step.three runs: its journal holds the records
/// of one and two (started, done) and three (started).
fn killed() -> Project {
    let p = Project::new().file("main.hcl", SPEC);
    let child = p.spawn(&["apply", "-auto-approve"]);
    wait_started(&p, "step.three");
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait_with_output();
    p
}

fn journal(p: &Project) -> String {
    p.read("cutover.lock.journal")
}

/// Puts `garbage` before line `at` (one-based) of the journal.
fn damage(p: &Project, at: usize, garbage: &str) {
    let mut lines: Vec<String> = journal(p)
        .split_inclusive('\n')
        .map(str::to_string)
        .collect();
    lines.insert(at - 1, garbage.to_string());
    std::fs::write(p.dir.join("cutover.lock.journal"), lines.concat()).unwrap();
}

fn files(p: &Project) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&p.dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock.lock"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn damage_before_the_last_record_stops_every_command_and_changes_nothing() {
    for (at, name) in [(1, "first"), (3, "middle")] {
        let p = killed();
        damage(&p, at, "garbage\n");
        let before = files(&p);
        for args in [
            &["apply", "-auto-approve"][..],
            &["plan"],
            &["rollback", "-auto-approve"],
            &["state", "list"],
        ] {
            let (code, out, err) = p.run(args);
            assert_eq!(code, 1, "{name}: {args:?}: {out}{err}");
            assert!(
                err.contains(&format!("cutover.lock.journal is damaged at line {at}: not a journal record (no checksum). Nothing was read or changed, and the files were left untouched")),
                "{name}: {args:?}: {err}"
            );
            assert_eq!(files(&p), before, "{name}: {args:?} changed a file");
        }
        assert_eq!(p.read("ran.log"), "one\ntwo\n", "{name}: nothing ran again");
    }
}

#[test]
fn a_torn_last_record_is_ignored_and_nothing_runs_twice() {
    let p = killed();
    let mut text = journal(&p);
    text.push_str("{\"lineage\":\"tor");
    std::fs::write(p.dir.join("cutover.lock.journal"), text).unwrap();
    let spec = SPEC.replace("sleep 5", "true");
    std::fs::write(p.dir.join("main.hcl"), spec).unwrap();
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        p.read("ran.log"),
        "one\ntwo\n",
        "one and two ran once: {out}"
    );
}

#[test]
fn repair_shows_what_it_keeps_and_drops_then_folds_the_rest() {
    let p = killed();
    damage(&p, 3, "garbage\n");
    let damaged = journal(&p);
    let (code, out, err) = p.run(&["state", "repair", "--auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    // The run's own history opens the journal.
    let out = crate::history::scrub(&out);
    assert!(out.contains("  keep 6 record(s):\n    line 1: run [RUN] (apply) started\n    line 2: step.one started\n    line 4: step.one done\n    line 5: step.two started\n    line 6: step.two done\n    line 7: step.three started\n  drop 1 line(s):\n    line 3: not a journal record (no checksum)\n"), "{out}");
    let aside = std::fs::read_dir(&p.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("cutover.lock.journal.damaged-"))
        .expect("the damaged journal is kept");
    assert_eq!(p.read(&aside), damaged);
    let (_, out, _) = p.run(&["state", "list"]);
    assert!(out.contains("step.two    done"), "{out}");
    let spec = SPEC.replace("sleep 5", "true");
    std::fs::write(p.dir.join("main.hcl"), spec).unwrap();
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(p.read("ran.log"), "one\ntwo\n");
}

#[test]
fn a_journal_of_another_lineage_is_refused_and_kept() {
    let p = killed();
    // Fold p's journal into its lockfile, then bring in another run's journal.
    let (code, out, err) = p.run(&["state", "resolve", "step.three", "--failed"]);
    assert_eq!(code, 0, "{out}{err}");
    let other = killed();
    std::fs::write(p.dir.join("cutover.lock.journal"), journal(&other)).unwrap();
    let before = files(&p);
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cutover.lock.journal belongs to another lineage ("),
        "{err}"
    );
    assert!(err.contains("It was left untouched"), "{err}");
    let (code, _, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    assert_eq!(files(&p), before, "refused, never deleted");
}
