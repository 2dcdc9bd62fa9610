//! Fleets at scale: 1,000 targets of 10 nodes each planned and applied by
//! the real binary, the same 10,000 nodes as a plain `for_each` module side
//! by side, `for_each` over 10,000 steps against Terraform's `for_each`
//! over `terraform_data` instances (1,000: Terraform's plan grows with the
//! square of the count),
//! and the batch scheduler's cost per decision at two fleet sizes.

use crate::measure::{best_of, measure_in, scratch, terraform, write_results};
use cutover::graph::fleet::{FleetRules, FleetRun};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Instances in Terraform's row.
const TF_INSTANCES: usize = 1_000;

/// A module of `nodes` chained zero-length waits, called `targets` times.
fn write_spec(dir: &Path, targets: usize, nodes: usize, fleet: bool) {
    std::fs::create_dir_all(dir.join("m")).expect("scratch dir");
    let mut m = String::from("variable \"i\" {\n  type = number\n}\n");
    for k in 0..nodes {
        let dep = if k == 0 {
            String::new()
        } else {
            format!("step.s{}", k - 1)
        };
        let _ = writeln!(
            m,
            "step \"wait\" \"s{k}\" {{\n  duration   = \"0s\"\n  depends_on = [{dep}]\n}}\n"
        );
    }
    std::fs::write(dir.join("m/main.hcl"), m).expect("module");
    let fleet = if fleet {
        "  fleet {\n    batches         = [1, \"10%\", \"50%\", \"100%\"]\n    max_concurrency = 100\n    max_errors      = \"1%\"\n  }\n"
    } else {
        ""
    };
    let main = format!("migration \"fleet-bench\" {{}}\n\nmodule \"t\" {{\n  source = \"./m\"\n  count  = {targets}\n  i      = count.index\n{fleet}}}\n");
    std::fs::write(dir.join("main.hcl"), main).expect("spec");
}

fn write_terraform(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("scratch dir");
    // Terraform's range() stops at 1,024 values: keys are built from two ranges.
    let k = (n as f64).sqrt().ceil() as usize;
    let tf = format!("resource \"terraform_data\" \"t\" {{\n  for_each = toset(slice(flatten([for i in range({k}) : [for j in range({k}) : tostring(i * {k} + j)]]), 0, {n}))\n  input    = each.key\n}}\n");
    std::fs::write(dir.join("main.tf"), tf).expect("terraform config");
}

/// Nanoseconds per scheduler decision (one admit and one finished target) on a fleet of `n`.
fn decision_ns(n: usize) -> f64 {
    let rules = FleetRules {
        batches: vec![1, n / 10, n / 2, n],
        max_concurrency: 100,
        max_errors: n,
        pause: Duration::ZERO,
    };
    let mut f = FleetRun::new(rules, vec![1; n]);
    let start = Instant::now();
    let mut decisions = 0u64;
    let mut running: Vec<usize> = f.admit(Duration::ZERO);
    while let Some(t) = running.pop() {
        f.node_finished(t, t % 97 != 0, Duration::ZERO);
        running.extend(f.admit(Duration::ZERO));
        decisions += 1;
    }
    start.elapsed().as_nanos() as f64 / decisions.max(1) as f64
}

pub fn fleet(bin: &Path, out: &Path) {
    let mut md = String::from("| what | nodes | wall (s) | peak RSS (MB) | µs per node | command |\n|---|---:|---:|---:|---:|---|\n");
    let mut rows = Vec::new();
    for (name, fleet) in [
        ("fleet of 1,000 × 10", true),
        ("for_each of 1,000 × 10, no fleet", false),
    ] {
        let dir = scratch(if fleet { "fleet-1000" } else { "foreach-1000" });
        write_spec(&dir, 1000, 10, fleet);
        let plan = best_of(3, || measure_in(bin, &dir, &["plan", "-no-color"]));
        assert_eq!(plan.code, 0, "plan failed: {name}");
        // The default parallelism (10), as in the apply suite's per-node figure.
        let apply = measure_in(bin, &dir, &["apply", "-auto-approve", "-no-color"]);
        assert_eq!(apply.code, 0, "apply failed: {name}");
        for (what, r, cmd) in [
            ("plan", &plan, "plan"),
            ("apply", &apply, "apply -auto-approve"),
        ] {
            let _ = writeln!(
                md,
                "| {name}: {what} | 10000 | {:.3} | {:.1} | {:.1} | `cutover {cmd}` |",
                r.wall_s,
                r.peak_rss_mb,
                r.wall_s * 1e6 / 10_000.0
            );
            println!("{name}: {what} {:.3} s, {:.1} MB", r.wall_s, r.peak_rss_mb);
            rows.push(serde_json::json!({ "what": format!("{name}: {what}"), "nodes": 10_000, "wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb }));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The same shape as Terraform's row below: one block, for_each over 10,000 keys.
    let dir = scratch("foreach-10000");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(
        dir.join("main.hcl"),
        "step \"wait\" \"t\" {\n  for_each = toset([for i in range(10000) : tostring(i)])\n  duration = \"0s\"\n}\n",
    )
    .expect("spec");
    let r = best_of(3, || measure_in(bin, &dir, &["plan", "-no-color"]));
    assert_eq!(r.code, 0, "plan failed in {}", dir.display());
    let _ = writeln!(md, "| cutover `for_each` over 10,000 `step \"wait\"`: plan | 10000 | {:.3} | {:.1} | {:.1} | `cutover plan` |", r.wall_s, r.peak_rss_mb, r.wall_s * 1e6 / 10_000.0);
    println!(
        "cutover for_each 10,000: plan {:.3} s, {:.1} MB",
        r.wall_s, r.peak_rss_mb
    );
    rows.push(serde_json::json!({ "what": "cutover for_each plan", "nodes": 10_000, "wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb }));
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(tf) = terraform() {
        // Terraform's plan grows with the square of the instance count here
        // (1,000 take ~40 s; 10,000 did not finish in 15 minutes): 1,000.
        let dir = scratch("fleet-tf");
        write_terraform(&dir, TF_INSTANCES);
        let init = measure_in(&tf, &dir, &["init", "-input=false"]);
        if init.code == 0 {
            let r = measure_in(&tf, &dir, &["plan", "-input=false", "-out=plan.tfplan"]);
            assert_eq!(r.code, 0, "terraform plan failed in {}", dir.display());
            let n = TF_INSTANCES;
            let _ = writeln!(md, "| Terraform `for_each` over {n} `terraform_data`: plan | {n} | {:.3} | {:.1} | {:.1} | `terraform plan` |", r.wall_s, r.peak_rss_mb, r.wall_s * 1e6 / n as f64);
            println!(
                "terraform for_each {n}: plan {:.3} s, {:.1} MB",
                r.wall_s, r.peak_rss_mb
            );
            rows.push(serde_json::json!({ "what": "terraform for_each plan", "nodes": n, "wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb }));
        } else {
            md.push_str(
                "\n`terraform init` failed (no provider cache?): the Terraform row is missing.\n",
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        md.push_str("\nTerraform was not found on PATH: its row is missing.\n");
    }
    let small = decision_ns(100);
    let large = decision_ns(100_000);
    let _ = writeln!(md, "\nBatch scheduler, per decision (admit + a target finished), not counting the coordinator: {small:.0} ns at 100 targets, {large:.0} ns at 100,000 targets ({:.2}×).", large / small);
    println!("scheduler: {small:.0} ns/decision at 100 targets, {large:.0} ns at 100,000");
    rows.push(serde_json::json!({ "what": "scheduler ns per decision", "targets_100": small, "targets_100000": large }));
    write_results(
        out,
        "fleet",
        serde_json::json!({ "suite": "fleet", "rows": rows }),
        &md,
    );
}
