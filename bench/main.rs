//! cutover's benchmark suite: generates synthetic migrations and measures the
//! real binary on them. Prints figures; never passes or fails on time.
//!
//! ```text
//! cargo build --release
//! target/release/cutover-bench plan [--max N]      # plan: wall time, peak RSS, growth
//! target/release/cutover-bench apply [--max N]     # apply of zero-duration wait steps
//! target/release/cutover-bench journal             # cost of one durable transition vs N
//! target/release/cutover-bench makespan            # makespan / critical path on sleep DAGs
//! target/release/cutover-bench all                 # everything, results in bench/results
//! target/release/cutover-bench gen --nodes N --out DIR [--kind wait]
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A layered DAG: `waves` layers; every node depends on two nodes of the
/// layer before; kinds alternate between `local_file` and `exec` steps.
fn generate(dir: &Path, nodes: usize, waves: usize) -> std::io::Result<()> {
    generate_kind(dir, nodes, waves, false)
}

/// The layered DAG, either mixed (`local_file` and `exec`) or all zero-duration `wait` steps.
fn generate_kind(dir: &Path, nodes: usize, waves: usize, waits: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let width = nodes.div_ceil(waves);
    let name = |i: usize| {
        if i.is_multiple_of(2) && !waits {
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
        if waits {
            let _ = writeln!(
                file,
                "step \"wait\" \"n{i}\" {{\n  duration   = \"0s\"\n  depends_on = [{deps}]\n}}\n"
            );
        } else if i.is_multiple_of(2) {
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

fn write_results(out_dir: &Path, name: &str, json: serde_json::Value, md: &str) {
    std::fs::create_dir_all(out_dir).expect("results dir");
    std::fs::write(
        out_dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )
    .expect("write json");
    std::fs::write(out_dir.join(format!("{name}.md")), md).expect("write md");
}

/// Apply of N zero-duration wait steps (layered, 10 waves), durable journaling included.
fn apply_suite(bin: &Path, max: usize, out_dir: &Path) {
    let mut md = String::from(
        "| nodes | wall (s) | µs per node | peak RSS (MB) | command |\n|---:|---:|---:|---:|---|\n",
    );
    let mut rows = Vec::new();
    for n in [1_000, 2_000, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max)
    {
        let dir = std::env::temp_dir().join(format!("cutover-bench-apply-{n}"));
        let mut best: Option<Run> = None;
        for _ in 0..3 {
            let _ = std::fs::remove_dir_all(&dir);
            generate_kind(&dir, n, 10, true).expect("generate");
            let r = measure(bin, &dir, &["apply", "-auto-approve", "-no-color"]);
            assert_eq!(r.code, 0, "apply failed on {n} nodes");
            if best.as_ref().is_none_or(|b| r.wall_s < b.wall_s) {
                best = Some(r);
            }
        }
        let b = best.expect("three runs");
        let cmd = format!("cutover-bench gen --kind wait --nodes {n} --out DIR && cutover -chdir DIR apply -auto-approve");
        let _ = writeln!(
            md,
            "| {n} | {:.3} | {:.0} | {:.1} | `{cmd}` |",
            b.wall_s,
            b.wall_s * 1e6 / n as f64,
            b.peak_rss_mb
        );
        println!(
            "apply {n:>7} wait steps: {:.3} s ({:.0} µs per node), {:.1} MB",
            b.wall_s,
            b.wall_s * 1e6 / n as f64,
            b.peak_rss_mb
        );
        rows.push(
            serde_json::json!({ "nodes": n, "wall_s": b.wall_s, "peak_rss_mb": b.peak_rss_mb }),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    write_results(
        out_dir,
        "apply",
        serde_json::json!({ "suite": "apply", "rows": rows }),
        &md,
    );
}

/// The cost of making one transition durable, against the size of the lockfile.
fn journal_suite(out_dir: &Path) {
    use cutover::state::{JournalStore, Lockfile, NodeState, NodeStatus, Record, StateWriter};
    let mut md = String::from("| nodes in the lockfile | journal append + fsync (µs per transition) | rewrite whole lockfile + fsync (µs per transition) | ratio |\n|---:|---:|---:|---:|\n");
    let mut rows = Vec::new();
    for n in [1_000usize, 10_000, 100_000] {
        let dir = std::env::temp_dir().join(format!("cutover-bench-journal-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let backend = cutover::state::local::LocalBackend::new(&dir);
        let mut doc = Lockfile::new("bench", "lineage");
        for i in 0..n {
            let mut s = NodeState::new(
                NodeStatus::Done,
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            );
            s.finished_at = Some("2026-11-25T00:00:00.000Z".into());
            doc.nodes.insert(format!("step.n{i}"), s);
        }
        backend.write(&doc).expect("write");
        let transitions = 500;
        let start = Instant::now();
        for i in 0..transitions {
            let s = NodeState::new(NodeStatus::Started, "d");
            backend
                .append(&[Record::node("lineage", &format!("step.n{i}"), s)])
                .expect("append");
        }
        let journal_us = start.elapsed().as_secs_f64() * 1e6 / transitions as f64;
        let rewrites = if n >= 100_000 { 10 } else { 50 };
        let start = Instant::now();
        for i in 0..rewrites {
            doc.serial = i as u64;
            backend.write(&doc).expect("write");
        }
        let rewrite_us = start.elapsed().as_secs_f64() * 1e6 / rewrites as f64;
        let _ = writeln!(
            md,
            "| {n} | {journal_us:.0} | {rewrite_us:.0} | {:.0}× |",
            rewrite_us / journal_us
        );
        println!("journal, {n:>6} nodes: {journal_us:.0} µs per transition; rewriting the lockfile instead: {rewrite_us:.0} µs");
        rows.push(
            serde_json::json!({ "nodes": n, "journal_us": journal_us, "rewrite_us": rewrite_us }),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    write_results(
        out_dir,
        "journal",
        serde_json::json!({ "suite": "journal", "rows": rows }),
        &md,
    );
}

/// A seeded random DAG of `n` wait steps; returns (spec, critical path in ms,
/// width of its widest wave, total work in ms).
fn random_sleep_dag(n: usize, seed: u64) -> (String, u64, usize, u64) {
    let mut x = seed;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut ms = vec![0u64; n];
    let mut spec = String::from("migration \"makespan\" {}\n");
    for i in 0..n {
        ms[i] = 100 + (rnd() % 31) * 10;
        for j in 0..i {
            if rnd() % 100 < 8 {
                deps[i].push(j);
            }
        }
        let d: Vec<String> = deps[i].iter().map(|j| format!("step.n{j}")).collect();
        let _ = writeln!(
            spec,
            "step \"wait\" \"n{i}\" {{\n  duration   = \"{}ms\"\n  depends_on = [{}]\n}}",
            ms[i],
            d.join(", ")
        );
    }
    let mut finish = vec![0u64; n];
    let mut wave = vec![1usize; n];
    for i in 0..n {
        let start = deps[i].iter().map(|j| finish[*j]).max().unwrap_or(0);
        finish[i] = start + ms[i];
        wave[i] = deps[i].iter().map(|j| wave[*j] + 1).max().unwrap_or(1);
    }
    let mut width = HashMap::new();
    for w in &wave {
        *width.entry(*w).or_insert(0usize) += 1;
    }
    (
        spec,
        finish.iter().copied().max().unwrap_or(0),
        width.values().copied().max().unwrap_or(0),
        ms.iter().sum(),
    )
}

/// Makespan of apply over the critical-path bound on seeded random sleep DAGs.
fn makespan_suite(bin: &Path, out_dir: &Path) {
    let mut md = String::from("| DAG | nodes | widest wave | critical path (ms) | parallelism | makespan (ms) | makespan ÷ critical path | makespan ÷ max(critical path, work ÷ parallelism) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut rows = Vec::new();
    for seed in [1u64, 2, 3] {
        let (spec, cp, width, work) = random_sleep_dag(60, 0x9e37_79b9_7f4a_7c15 ^ seed);
        for parallelism in [4usize, 10, 64] {
            let dir =
                std::env::temp_dir().join(format!("cutover-bench-makespan-{seed}-{parallelism}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join("main.hcl"), &spec).expect("spec");
            let out = std::process::Command::new(bin)
                .args([
                    "-chdir",
                    &dir.display().to_string(),
                    "apply",
                    "-auto-approve",
                    "--json",
                    "-parallelism",
                    &parallelism.to_string(),
                ])
                .output()
                .expect("run cutover");
            assert!(out.status.success(), "apply failed");
            let times: Vec<(String, chrono::DateTime<chrono::FixedOffset>)> =
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter_map(|e| {
                        Some((
                            e["event"].as_str()?.to_string(),
                            chrono::DateTime::parse_from_rfc3339(e["time"].as_str()?).ok()?,
                        ))
                    })
                    .collect();
            let first = times
                .iter()
                .find(|(k, _)| k == "node_started")
                .map(|t| t.1)
                .expect("a start");
            let last = times
                .iter()
                .filter(|(k, _)| k == "node_done")
                .map(|t| t.1)
                .max()
                .expect("a finish");
            let makespan = (last - first).num_milliseconds() as u64;
            let ratio = makespan as f64 / cp as f64;
            let bound = (cp as f64).max(work as f64 / parallelism as f64);
            let to_bound = makespan as f64 / bound;
            let _ = writeln!(md, "| random, seed {seed} | 60 | {width} | {cp} | {parallelism} | {makespan} | {ratio:.3} | {to_bound:.3} |");
            println!("makespan, seed {seed}, parallelism {parallelism:>2}: {makespan} ms; critical path {cp} ms ({ratio:.3}); bound {bound:.0} ms ({to_bound:.3})");
            rows.push(serde_json::json!({ "seed": seed, "nodes": 60, "width": width, "critical_path_ms": cp, "work_ms": work, "parallelism": parallelism, "makespan_ms": makespan, "ratio": ratio, "ratio_to_bound": to_bound }));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    write_results(
        out_dir,
        "makespan",
        serde_json::json!({ "suite": "makespan", "rows": rows }),
        &md,
    );
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
    let max: usize = arg(&args, "--max")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    match args.first().map(String::as_str) {
        Some("gen") => {
            let n: usize = arg(&args, "--nodes").and_then(|s| s.parse().ok()).unwrap_or(1000);
            let dir = PathBuf::from(arg(&args, "--out").unwrap_or_else(|| "synthetic".into()));
            let waits = arg(&args, "--kind").as_deref() == Some("wait");
            generate_kind(&dir, n, 10, waits).expect("generate");
            println!("wrote {n} nodes to {}", dir.display());
        }
        Some("plan") => plan_suite(&bin, max, &out),
        Some("apply") => apply_suite(&bin, max, &out),
        Some("journal") => journal_suite(&out),
        Some("makespan") => makespan_suite(&bin, &out),
        Some("all") => {
            plan_suite(&bin, max, &out);
            apply_suite(&bin, max, &out);
            journal_suite(&out);
            makespan_suite(&bin, &out);
        }
        _ => eprintln!("usage: cutover-bench gen --nodes N --out DIR [--kind wait] | plan | apply | journal | makespan | all [--max N] [--results DIR]"),
    }
}
