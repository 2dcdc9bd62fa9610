//! Every seed runbook's example, planned and applied against local stand-ins.

use crate::support::{free_port, Project};

#[test]
fn phase1_rollout_applies_and_rolls_back() {
    // Seed runbook 004: flag 0 → 10 → 50 → 100 % with monitoring windows.
    let p = Project::example("examples/phase1-rollout");
    let port = format!("port={}", free_port());
    let (code, out, err) = p.run(&["plan", "-var-file", "fast.vars.hcl", "-var", &port]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("+ rollout.phase1_flag[0].local_file.flag"),
        "{out}"
    );
    assert!(
        out.contains("? rollout.phase1_flag[10].gate.monitoring_window"),
        "{out}"
    );
    let (code, out, err) = p.run(&[
        "apply",
        "-auto-approve",
        "-var-file",
        "fast.vars.hcl",
        "-var",
        &port,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        p.read("state/flags.env"),
        "PHASE_1_ROLLOUT_PERCENTAGE=100\n"
    );
    assert_eq!(p.read("state/api/VERSION"), "phase1\n");
    assert_eq!(p.read("state/webapp/VERSION"), "phase1\n");
    assert!(
        out.contains("done     rollout.phase1_flag[50].gate.monitoring_window in 1s: held for 1s"),
        "{out}"
    );

    // The same deploy where the app degrades at 50 %: everything goes back.
    let p = Project::example("examples/phase1-rollout");
    let port = format!("port={}", free_port());
    let (code, out, _) = p.run(&[
        "apply",
        "-auto-approve",
        "-var-file",
        "fast.vars.hcl",
        "-var",
        &port,
        "-var",
        "fail_at=50",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED   rollout.phase1_flag[50].gate.monitoring_window: did not hold within 4s; last measured: HTTP 200, /rollout_percentage = 50, /error_rate = 0.12, /p95_latency_ms = 850"), "{out}");
    assert!(
        !p.dir.join("state/flags.env").exists(),
        "the flag file did not exist before the deploy"
    );
    assert_eq!(p.read("state/api/VERSION"), "v0\n");
    assert_eq!(p.read("state/webapp/VERSION"), "v0\n");
    assert!(out.contains("Apply failed at rollout.phase1_flag[50].gate.monitoring_window; rolled back: 13 undone, 1 kept."), "{out}");
}
