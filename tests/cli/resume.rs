//! `kill -9` at a random instant, then resume: no non-idempotent step ever
//! runs twice, no completed transition is lost, and a step whose process
//! outlived cutover needs no operator: its supervisor recorded how it ended.

use crate::support::Project;
use std::process::Command;
use std::time::Duration;

fn step(name: &str, deps: &str, idempotent: bool) -> String {
    format!(
        "step \"exec\" \"{name}\" {{\n  shell = \"echo start {name} >> ran.log; sleep 0.05; echo end {name} >> ran.log\"\n  idempotent = {idempotent}\n  depends_on = [{deps}]\n}}\n"
    )
}

fn spec() -> String {
    let mut s = String::from("migration \"resume\" {}\n");
    s += &step("a1", "", false);
    s += &step("a2", "", false);
    s += &step("b", "step.a1, step.a2", false);
    s += "resource \"local_file\" \"mark\" {\n  path = \"mark.txt\"\n  content = \"m\"\n  depends_on = [step.b]\n}\n";
    s += &step("c1", "local_file.mark", false);
    s += &step("c2", "local_file.mark", true);
    s += "gate \"exec\" \"g\" {\n  shell = \"test -f mark.txt\"\n  interval = \"20ms\"\n  depends_on = [step.c1, step.c2]\n}\n";
    s += &step("d", "gate.g", false);
    s
}

const NON_IDEMPOTENT: [&str; 5] = ["a1", "a2", "b", "c1", "d"];

fn count(log: &str, line: &str) -> usize {
    log.lines().filter(|l| *l == line).count()
}

fn states(p: &Project) -> Vec<(String, String)> {
    let (_, out, _) = p.run(&["state", "list"]);
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

#[test]
fn killed_apply_resumes_without_running_anything_twice() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut resolved = 0;
    for trial in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 450);
        let p = Project::new().file("main.hcl", &spec());
        let child = p.spawn(&["apply", "-auto-approve"]);
        std::thread::sleep(delay);
        Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap();
        let _ = child.wait_with_output();
        // Orphaned step processes finish what they were doing.
        std::thread::sleep(Duration::from_millis(150));
        let log = std::fs::read_to_string(p.dir.join("ran.log")).unwrap_or_default();
        // Nothing is recorded done before it happened.
        for (addr, status) in states(&p) {
            if let (Some(name), "done") = (addr.strip_prefix("step."), status.as_str()) {
                assert_eq!(
                    count(&log, &format!("end {name}")),
                    1,
                    "trial {trial}: {addr} recorded done without running\n{log}"
                );
            }
        }
        let mut finished = false;
        for _ in 0..10 {
            let (code, out, err) = p.run(&["apply", "-auto-approve"]);
            if code == 0 {
                finished = true;
                break;
            }
            assert!(
                err.contains("may have done part of its work"),
                "trial {trial}: unexpected failure:\n{out}\n{err}"
            );
            // Play the operator: look at what the interrupted step did, record it.
            let log = std::fs::read_to_string(p.dir.join("ran.log")).unwrap_or_default();
            for (addr, status) in states(&p) {
                if status != "started" {
                    continue;
                }
                let name = addr.trim_start_matches("step.");
                let verdict = if count(&log, &format!("end {name}")) == 1 {
                    "--done"
                } else {
                    "--failed"
                };
                assert_eq!(
                    count(&log, &format!("start {name}")),
                    count(&log, &format!("end {name}")),
                    "trial {trial}: {name} is still running"
                );
                resolved += 1;
                eprintln!("trial {trial}: resolving {addr}:\n{out}");
                let (code, _, err) = p.run(&["state", "resolve", &addr, verdict]);
                assert_eq!(code, 0, "{err}");
            }
        }
        assert!(
            finished,
            "trial {trial} (killed after {delay:?}) never finished"
        );
        let log = std::fs::read_to_string(p.dir.join("ran.log")).unwrap();
        for name in NON_IDEMPOTENT {
            assert_eq!(
                count(&log, &format!("start {name}")),
                1,
                "trial {trial} (killed after {delay:?}): {name} ran twice\n{log}"
            );
            assert_eq!(
                count(&log, &format!("end {name}")),
                1,
                "trial {trial}: {name}\n{log}"
            );
        }
        assert!(count(&log, "end c2") >= 1);
        assert!(
            states(&p).iter().all(|(_, s)| s == "done"),
            "trial {trial}: {:?}",
            states(&p)
        );
        assert_eq!(p.read("mark.txt"), "m");
    }
    // Every step's process outlived cutover and its supervisor recorded how
    // it ended: no trial needed the operator.
    assert_eq!(resolved, 0, "manual resolves in 20 trials");
}

#[test]
fn a_resumed_apply_that_fails_restores_the_state_from_before_the_first_run() {
    // Killed at the second stage; resumed, the gate fails: the file goes back
    // to what it held before the first run began, not to the first stage's.
    let spec = "rollout \"traffic\" {\n  stages = [10, 50]\n  resource \"local_file\" \"routing\" {\n    path = \"routing.txt\"\n    content = \"${stage.value}\\n\"\n  }\n  gate \"exec\" \"healthy\" {\n    shell = \"test ! -f unhealthy && { [ ${stage.value} -lt 50 ] || test -f go; }\"\n    interval = \"50ms\"\n    timeout = \"60s\"\n    failure_limit = 3\n  }\n}\n";
    let p = Project::new()
        .file("main.hcl", spec)
        .file("routing.txt", "0\n");
    let mut child = p.spawn(&["apply", "-auto-approve"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while p.read("routing.txt") != "50\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the second stage never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    std::fs::write(p.dir.join("unhealthy"), "").unwrap();
    let (code, out, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   rollout.traffic[50].gate.healthy"),
        "{out}"
    );
    assert_eq!(p.read("routing.txt"), "0\n", "{out}");
}

/// Starts `spec`'s apply, waits until `step.s`'s command runs under its
/// supervisor, and kills cutover with SIGKILL.
fn killed_while_running(spec: &str) -> Project {
    let p = Project::new().file("main.hcl", spec);
    let mut child = p.spawn(&["apply", "-auto-approve"]);
    crate::support::wait_started(&p, "step.s");
    let runs = p.dir.join(".cutover/runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_dir(&runs)
        .map(|d| d.flatten().any(|e| e.path().join("pid").exists()))
        .unwrap_or(false)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the supervisor never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let _ = child.wait();
    p
}

#[test]
fn apply_waits_for_a_step_whose_process_outlived_cutover() {
    let p = killed_while_running(
        "step \"exec\" \"s\" {\n  shell = \"sleep 1; echo end >> ran.log\"\n}\nstep \"exec\" \"next\" {\n  shell = \"echo next >> ran.log\"\n  depends_on = [step.s]\n}\n",
    );
    let (_, plan, _) = p.run(&["plan"]);
    assert!(plan.contains("interrupted: its process (pid "), "{plan}");
    assert!(
        plan.contains(") is still running; apply waits for it and records how it ended"),
        "{plan}"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "  notice   waiting for step.s: its process from the last apply is still running\n"
        ),
        "{out}"
    );
    assert!(out.contains("  ok       step.s: interrupted, but its process exited with status 0 after cutover stopped; recorded as done\n"), "{out}");
    assert_eq!(
        p.read("ran.log"),
        "end\nnext\n",
        "the step ran once, and what follows it ran after it"
    );
}

#[test]
fn a_step_whose_process_failed_after_cutover_died_runs_again() {
    let p = killed_while_running(
        "step \"exec\" \"s\" {\n  shell = \"echo run >> ran.log; sleep 0.5; test -f ok\"\n}\n",
    );
    std::thread::sleep(Duration::from_millis(1200));
    let (_, plan, _) = p.run(&["plan"]);
    assert!(
        plan.contains("> step.s  interrupted, and its process exited with status 1 after cutover stopped: it failed; will run again"),
        "{plan}"
    );
    std::fs::write(p.dir.join("ok"), "").unwrap();
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(p.read("ran.log"), "run\nrun\n");
}

#[test]
fn a_step_whose_process_was_killed_is_left_to_the_operator() {
    let p = killed_while_running(
        "step \"exec\" \"s\" {\n  shell = \"sleep 5; echo end >> ran.log\"\n}\n",
    );
    // The command, not its supervisor.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !Command::new("pkill")
        .args(["-KILL", "-f", "^sh -c sleep 5; echo end"])
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("> step.s  interrupted during the last apply: its process was killed by signal 9: it may have done part of its work"), "{out}");
    assert!(
        err.contains("`cutover state resolve ADDR --done` or `--failed`"),
        "{err}"
    );
}
