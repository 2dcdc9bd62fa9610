//! cutover's benchmark suite: generates synthetic migrations and measures the
//! real binary on them. Prints figures; never passes or fails on time.
//!
//! ```text
//! cargo build --release && cargo run --release --bin cutover-bench -- plan [--max N]
//! cargo run --release --bin cutover-bench -- gen --nodes N --out DIR
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A layered DAG: `waves` layers; every node depends on two nodes of the
/// layer before; kinds alternate between `local_file` and `exec` steps.
fn generate(dir: &Path, nodes: usize, waves: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let width = nodes.div_ceil(waves);
    let name = |i: usize| {
        if i.is_multiple_of(2) {
            format!("local_file.n{i}")
        } else {
            format!("step.n{i}")
        }
    };
    let mut file =
        String::from("migration \"synthetic\" {\n  description = \"layered DAG\"\n}\n\n");
    let mut file_no = 0;
    for i in 0..nodes {
        let layer = i / width;
        let deps: Vec<String> = if layer == 0 {
            Vec::new()
        } else {
            let base = (layer - 1) * width;
            let pos = i % width;
            vec![name(base + pos), name(base + (pos + 1) % width)]
        };
        let deps = deps.join(", ");
        if i.is_multiple_of(2) {
            let _ = writeln!(
                file,
                "resource \"local_file\" \"n{i}\" {{\n  path       = \"out/n{i}.txt\"\n  content    = \"node {i}\"\n  depends_on = [{deps}]\n}}\n"
            );
        } else {
            let _ = writeln!(
                file,
                "step \"exec\" \"n{i}\" {{\n  command    = [\"true\", \"{i}\"]\n  depends_on = [{deps}]\n}}\n"
            );
        }
        if (i + 1) % 1000 == 0 || i + 1 == nodes {
            std::fs::write(dir.join(format!("part{file_no:04}.hcl")), &file)?;
            file.clear();
            file_no += 1;
        }
    }
    Ok(())
}

struct Run {
    wall_s: f64,
    peak_rss_mb: f64,
    code: i32,
}

/// Runs `cutover ARGS` in `dir`; wall time and the child's own peak RSS.
fn measure(bin: &Path, dir: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let child = std::process::Command::new(bin)
        .args(["-chdir", &dir.display().to_string()])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start cutover");
    // The child is reaped by wait4 below, which also reports its peak RSS.
    let pid = child.id() as i32;
    std::mem::forget(child);
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with valid pointers.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    Run {
        wall_s: start.elapsed().as_secs_f64(),
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        code: libc::WEXITSTATUS(status),
    }
}

fn exponent(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x.ln(), b + y.ln()));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points
        .iter()
        .map(|(x, y)| (x.ln() - mx) * (y.ln() - my))
        .sum();
    let den: f64 = points.iter().map(|(x, _)| (x.ln() - mx).powi(2)).sum();
    num / den
}

fn plan_suite(bin: &Path, max: usize, out_dir: &Path) {
    let sizes: Vec<usize> = [100, 1_000, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    let mut rows = Vec::new();
    let mut md = String::from(
        "| nodes | wall (s) | peak RSS (MB) | µs per node | command |\n|---:|---:|---:|---:|---|\n",
    );
    for &n in &sizes {
        let dir = std::env::temp_dir().join(format!("cutover-bench-plan-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, n, 10).expect("generate");
        // Best of three.
        let runs: Vec<Run> = (0..3)
            .map(|_| measure(bin, &dir, &["plan", "-no-color"]))
            .collect();
        assert!(
            runs.iter().all(|r| r.code == 0),
            "cutover plan failed on {n} nodes"
        );
        let best = runs
            .iter()
            .min_by(|a, b| a.wall_s.total_cmp(&b.wall_s))
            .expect("three runs");
        let cmd = format!("cutover-bench gen --nodes {n} --out DIR && cutover -chdir DIR plan");
        let _ = writeln!(
            md,
            "| {n} | {:.3} | {:.1} | {:.1} | `{cmd}` |",
            best.wall_s,
            best.peak_rss_mb,
            best.wall_s * 1e6 / n as f64
        );
        println!(
            "plan {n:>7} nodes: {:.3} s, {:.1} MB",
            best.wall_s, best.peak_rss_mb
        );
        rows.push(serde_json::json!({ "nodes": n, "wall_s": best.wall_s, "peak_rss_mb": best.peak_rss_mb }));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let pts_t: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["nodes"].as_f64().unwrap_or(1.0),
                r["wall_s"].as_f64().unwrap_or(1.0),
            )
        })
        .filter(|p| p.0 >= 1000.0)
        .collect();
    let pts_m: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["nodes"].as_f64().unwrap_or(1.0),
                r["peak_rss_mb"].as_f64().unwrap_or(1.0),
            )
        })
        .filter(|p| p.0 >= 1000.0)
        .collect();
    let (et, em) = if pts_t.len() >= 2 {
        (exponent(&pts_t), exponent(&pts_m))
    } else {
        (f64::NAN, f64::NAN)
    };
    let _ = writeln!(
        md,
        "\nGrowth exponent from 1,000 nodes up (time ∝ N^k): time k = {et:.2}, memory k = {em:.2}."
    );
    println!("growth exponent (>= 1000 nodes): time {et:.2}, memory {em:.2}");
    std::fs::create_dir_all(out_dir).expect("results dir");
    let json = serde_json::json!({ "suite": "plan", "shape": "layered, 10 waves, 2 deps per node", "rows": rows, "time_exponent": et, "memory_exponent": em });
    std::fs::write(
        out_dir.join("plan.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )
    .expect("write json");
    std::fs::write(out_dir.join("plan.md"), md).expect("write md");
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exe = std::env::current_exe().expect("own path");
    let bin = exe.with_file_name("cutover");
    let out = PathBuf::from(arg(&args, "--results").unwrap_or_else(|| "bench/results".into()));
    match args.first().map(String::as_str) {
        Some("gen") => {
            let n: usize = arg(&args, "--nodes")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1000);
            let dir = PathBuf::from(arg(&args, "--out").unwrap_or_else(|| "synthetic".into()));
            generate(&dir, n, 10).expect("generate");
            println!("wrote {n} nodes to {}", dir.display());
        }
        Some("plan") => {
            let max: usize = arg(&args, "--max")
                .and_then(|s| s.parse().ok())
                .unwrap_or(100_000);
            plan_suite(&bin, max, &out);
        }
        _ => eprintln!(
            "usage: cutover-bench gen --nodes N --out DIR | plan [--max N] [--results DIR]"
        ),
    }
}
