//! Fleets: a repeated module call rolled out as targets in batches, with a
//! concurrency cap, batch barriers with a pause, an error budget, exit
//! status 4 and a retry of the failed targets only.

use crate::support::Project;
use std::collections::BTreeMap;
use std::process::Command;

/// start and end time of each target's work, from log.txt.
fn intervals(p: &Project) -> BTreeMap<usize, (f64, f64)> {
    let mut out: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
    for l in p.read("log.txt").lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 {
            continue;
        }
        let (t, at): (usize, f64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let e = out.entry(t).or_insert((0.0, 0.0));
        if f[0] == "start" {
            e.0 = at;
        } else {
            e.1 = at;
        }
    }
    out
}

fn count_lines(p: &Project, prefix: &str) -> usize {
    p.read("log.txt")
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

#[test]
fn a_fleet_respects_its_cap_and_its_batch_barriers() {
    let p = Project::example("tests/fixtures/fleet");
    let (code, plan, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    let fleet =
        &plan[plan.find("Fleet module.target").unwrap()..plan.find("Rollback plan").unwrap()];
    insta::assert_snapshot!("fleet_plan", fleet);
    let (code, out, err) = p.run(&["apply", "-auto-approve", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let times = intervals(&p);
    assert_eq!(times.len(), 12);
    // At most three targets at once: at every start, count who is running.
    for (t, (start, _)) in &times {
        let running = times
            .values()
            .filter(|(s, e)| s <= start && start < e)
            .count();
        assert!(
            running <= 3,
            "{running} running when target {t} started: {times:?}"
        );
    }
    // Batches {0}, {1, 2}, {3..11}: each starts after the last one ended, plus the pause.
    let batches: [&[usize]; 3] = [&[0], &[1, 2], &[3, 4, 5, 6, 7, 8, 9, 10, 11]];
    for w in batches.windows(2) {
        let ended = w[0].iter().map(|t| times[t].1).fold(0.0, f64::max);
        let started = w[1].iter().map(|t| times[t].0).fold(f64::MAX, f64::min);
        assert!(
            started - ended >= 0.5,
            "batch barrier and pause: {ended} then {started}"
        );
    }
    // Events name the target and its batch.
    let started: Vec<(String, u64)> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "fleet_target_started")
        .map(|e| {
            (
                e["target"].as_str().unwrap().to_string(),
                e["batch"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(started.len(), 12);
    assert_eq!(started[0], ("module.target[0]".to_string(), 0));
    assert!(started.contains(&("module.target[11]".to_string(), 2)));
    assert_eq!(count_lines(&p, "after"), 1);
}

#[test]
fn a_failed_target_within_the_budget_is_rolled_back_alone_and_retried_alone() {
    let p = Project::example("tests/fixtures/fleet");
    let (code, out, err) = p.run(&[
        "apply",
        "-auto-approve",
        "-var",
        "fail=[4]",
        "-var",
        "work=0.05",
    ]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.contains(
            "  undone   module.target[4].local_file.mark: removed: it did not exist before\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("Apply complete except 1 fleet target that failed within the error budget: module.target[4]. Apply again to retry only it.\n"), "{out}");
    assert!(
        !p.dir.join("marks/4.txt").exists(),
        "target 4 alone was rolled back"
    );
    assert!(p.dir.join("marks/5.txt").exists(), "the others stay");
    assert_eq!(count_lines(&p, "after"), 1, "what depends on the fleet ran");
    std::fs::remove_file(p.dir.join("log.txt")).unwrap();
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", "work=0.05"]);
    assert_eq!(code, 0, "{out}{err}");
    let log = p.read("log.txt");
    assert_eq!(
        log.lines()
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["start 4", "end 4"],
        "only the failed target ran again"
    );
    assert!(p.dir.join("marks/4.txt").exists());
}

#[test]
fn a_failure_beyond_the_budget_stops_the_fleet_and_rolls_back_the_migration() {
    let p = Project::example("tests/fixtures/fleet");
    let (code, out, err) = p.run(&[
        "apply",
        "-auto-approve",
        "-var",
        "fail=[1, 2]",
        "-var",
        "work=0.05",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("error budget exceeded: stopped"), "{out}");
    assert!(
        out.contains("Apply failed at module.target[2].step.work")
            || out.contains("Apply failed at module.target[1].step.work"),
        "{out}"
    );
    // Batch 3 never started; everything that ran is undone.
    let times = intervals(&p);
    assert_eq!(
        times.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2],
        "{out}"
    );
    let marks = std::fs::read_dir(p.dir.join("marks"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(marks, 0, "{out}");
    assert_eq!(count_lines(&p, "after"), 0);
}

#[test]
fn a_fleet_killed_in_the_middle_of_a_batch_resumes_without_running_a_target_twice() {
    let p = Project::example("tests/fixtures/fleet");
    let child = p.spawn(&["apply", "-auto-approve", "-var", "work=0.3"]);
    // Kill once batch 3 is running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(p.dir.join("log.txt").exists() && count_lines(&p, "start") >= 5) {
        assert!(
            std::time::Instant::now() < deadline,
            "batch 3 never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait_with_output();
    let (code, out, err) = p.run(&["apply", "-auto-approve", "-var", "work=0.05"]);
    assert_eq!(code, 0, "{out}{err}");
    for t in 0..12 {
        assert_eq!(
            count_lines(&p, &format!("start {t} ")),
            1,
            "target {t}: {}",
            p.read("log.txt")
        );
    }
    assert_eq!(count_lines(&p, "after"), 1);
}

#[test]
fn fleet_problems_are_located_diagnostics() {
    let cases = [
        ("fleet without repetition", "module \"m\" {\n  source = \"./m\"\n  fleet {\n    batches = [1]\n  }\n}\n"),
        ("shrinking batches", "module \"m\" {\n  source = \"./m\"\n  count  = 4\n  fleet {\n    batches = [3, 1]\n  }\n}\n"),
        ("bad percentage", "module \"m\" {\n  source = \"./m\"\n  count  = 4\n  fleet {\n    max_errors = \"150%\"\n  }\n}\n"),
        ("unknown attribute", "module \"m\" {\n  source = \"./m\"\n  count  = 4\n  fleet {\n    max_in_flight = 2\n  }\n}\n"),
    ];
    let mut all = String::new();
    for (name, spec) in cases {
        let p = Project::new().file("main.hcl", spec).file(
            "m/main.hcl",
            "step \"exec\" \"s\" {\n  shell = \"true\"\n}\n",
        );
        let (code, out, err) = p.run(&["validate"]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        all.push_str(&format!("### {name}\n{err}\n"));
    }
    insta::assert_snapshot!("fleet_diagnostics", all);
}

#[test]
fn a_repeated_step_is_a_fleet_of_one_node_targets() {
    let p = Project::new().file(
        "main.hcl",
        "step \"exec\" \"flip\" {\n  for_each = toset([\"a\", \"b\", \"c\", \"d\", \"e\"])\n  shell    = \"echo start ${each.key} $(date +%s.%N) >> log.txt; sleep 0.1; echo end ${each.key} $(date +%s.%N) >> log.txt\"\n  fleet {\n    batches         = [2, \"100%\"]\n    max_concurrency = 2\n  }\n}\n",
    );
    let (code, plan, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("Fleet step.flip: 5 targets in 2 batches, at most 2 at once, 0 failures tolerated:\n  batch 1  step.flip[\"a\"], step.flip[\"b\"]\n  batch 2  step.flip[\"c\"], step.flip[\"d\"], step.flip[\"e\"]\n"), "{plan}");
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    // Never more than two at once; c, d, e only after a and b ended.
    let mut events: Vec<(f64, i32, String)> = p
        .read("log.txt")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[2].parse().unwrap(),
                if f[0] == "start" { 1 } else { -1 },
                f[1].to_string(),
            )
        })
        .collect();
    events.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut running = 0;
    for (_, d, _) in &events {
        running += d;
        assert!(running <= 2, "{events:?}");
    }
    let end_of = |k: &str| events.iter().find(|e| e.1 == -1 && e.2 == k).unwrap().0;
    let start_of = |k: &str| events.iter().find(|e| e.1 == 1 && e.2 == k).unwrap().0;
    for later in ["c", "d", "e"] {
        assert!(
            start_of(later) >= end_of("a").max(end_of("b")),
            "{events:?}"
        );
    }
}

#[test]
fn a_fleet_gate_holds_between_batches_and_its_failure_fails_the_migration() {
    let spec = "module \"t\" {\n  source = \"./m\"\n  count  = 4\n  i      = count.index\n  fleet {\n    batches = [1, 2, \"100%\"]\n    gate \"exec\" \"healthy\" {\n      shell    = \"echo gate >> log.txt; test -f ok\"\n      interval = \"100ms\"\n      timeout  = \"1s\"\n    }\n  }\n}\n";
    let module = "variable \"i\" {}\nresource \"local_file\" \"f\" {\n  path    = \"out/${var.i}\"\n  content = \"x\"\n}\nstep \"exec\" \"s\" {\n  shell      = \"echo t${var.i} >> log.txt\"\n  depends_on = [local_file.f]\n}\n";
    let p = Project::new()
        .file("main.hcl", spec)
        .file("m/main.hcl", module)
        .file("ok", "");
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let log = p.read("log.txt");
    let mut lines: Vec<&str> = log.lines().collect();
    lines[4..].sort_unstable();
    assert_eq!(lines, ["t0", "gate", "t1", "gate", "t2", "t3"], "{out}");

    // Without `ok` the gate after the canary fails: nothing more starts, the canary is undone.
    let p = Project::new()
        .file("main.hcl", spec)
        .file("m/main.hcl", module);
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Apply failed at module.t.after_batch[1].gate.healthy; rolled back"),
        "{out}"
    );
    assert!(!p.read("log.txt").contains("t1"), "{out}");
    assert!(!p.dir.join("out/0").exists(), "{out}");
}
