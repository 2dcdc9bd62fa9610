//! The suites: each prints its figures, and writes them as JSON and Markdown.

use crate::dag::{Dag, Kind};
use crate::measure::{best_of, exponent, measure_in, scratch, terraform, write_results};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

const MIXED: &[Kind] = &[Kind::File, Kind::Exec];

/// Plan of a layered DAG (10 waves), with an empty state and with everything applied.
pub fn plan(bin: &Path, max: usize, out: &Path) {
    let tf = terraform();
    let mut md = String::from("| nodes | state | wall (s) | peak RSS (MB) | µs per node | command |\n|---:|---|---:|---:|---:|---|\n");
    let mut rows = Vec::new();
    let mut empty_pts = Vec::new();
    for n in [100, 1_000, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max)
    {
        let dir = scratch(&format!("plan-{n}"));
        let dag = Dag::layered(n / 10, 10, MIXED, 0);
        dag.write_cutover(&dir, false).expect("generate");
        let cmd = format!("cutover-bench gen --nodes {n} --out DIR && cutover -chdir DIR plan");
        let empty = best_of(3, || measure_in(bin, &dir, &["plan", "-no-color"]));
        assert_eq!(empty.code, 0, "plan failed on {n} nodes");
        if n >= 1_000 {
            empty_pts.push((n as f64, empty.wall_s));
        }
        let _ = writeln!(
            md,
            "| {n} | empty | {:.3} | {:.1} | {:.1} | `{cmd}` |",
            empty.wall_s,
            empty.peak_rss_mb,
            empty.wall_s * 1e6 / n as f64
        );
        println!(
            "plan {n:>7} nodes, empty state: {:.3} s, {:.1} MB",
            empty.wall_s, empty.peak_rss_mb
        );
        rows.push(serde_json::json!({ "nodes": n, "state": "empty", "wall_s": empty.wall_s, "peak_rss_mb": empty.peak_rss_mb }));
        let applied = measure_in(bin, &dir, &["apply", "-auto-approve", "-no-color"]);
        assert_eq!(applied.code, 0, "apply failed on {n} nodes");
        let done = best_of(3, || measure_in(bin, &dir, &["plan", "-no-color"]));
        let _ = writeln!(
            md,
            "| {n} | all applied | {:.3} | {:.1} | {:.1} | `{cmd}` after `apply -auto-approve` |",
            done.wall_s,
            done.peak_rss_mb,
            done.wall_s * 1e6 / n as f64
        );
        println!(
            "plan {n:>7} nodes, all applied: {:.3} s, {:.1} MB",
            done.wall_s, done.peak_rss_mb
        );
        rows.push(serde_json::json!({ "nodes": n, "state": "applied", "wall_s": done.wall_s, "peak_rss_mb": done.peak_rss_mb }));
        if let (Some(tf), true) = (&tf, n <= 10_000) {
            let tdir = terraform_workdir(tf, &dag, &format!("plan-tf-{n}"));
            let r = measure_in(tf, &tdir, &["plan", "-input=false", "-out=plan.tfplan"]);
            let _ = writeln!(
                md,
                "| {n} | empty (Terraform) | {:.3} | {:.1} | {:.1} | `terraform plan` |",
                r.wall_s,
                r.peak_rss_mb,
                r.wall_s * 1e6 / n as f64
            );
            rows.push(serde_json::json!({ "nodes": n, "state": "empty", "tool": "terraform", "wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb }));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let k = if empty_pts.len() >= 2 {
        exponent(&empty_pts)
    } else {
        f64::NAN
    };
    let _ = writeln!(
        md,
        "\nGrowth exponent of the empty-state plan from 1,000 nodes up (time ∝ N^k): k = {k:.2}."
    );
    if tf.is_none() {
        md.push_str("\nTerraform was not found on PATH (1.4 or newer): its rows are missing.\n");
    }
    println!("growth exponent (>= 1000 nodes): {k:.2}");
    write_results(
        out,
        "plan",
        serde_json::json!({ "suite": "plan", "rows": rows, "time_exponent": k }),
        &md,
    );
}

/// Apply of N zero-duration wait steps, durable journaling included.
pub fn apply(bin: &Path, max: usize, out: &Path) {
    let tf = terraform();
    let mut md = String::from("| nodes | tool | wall (s) | µs per node | peak RSS (MB) | command |\n|---:|---|---:|---:|---:|---|\n");
    let mut rows = Vec::new();
    for n in [1_000, 2_000, 10_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max)
    {
        let dag = Dag::layered(n / 10, 10, &[Kind::Wait], 0);
        let b = best_of(3, || {
            let dir = scratch(&format!("apply-{n}"));
            dag.write_cutover(&dir, false).expect("generate");
            measure_in(bin, &dir, &["apply", "-auto-approve", "-no-color"])
        });
        assert_eq!(b.code, 0, "apply failed on {n} nodes");
        let cmd = format!("cutover-bench gen --kind wait --nodes {n} --out DIR && cutover -chdir DIR apply -auto-approve");
        let _ = writeln!(
            md,
            "| {n} | cutover | {:.3} | {:.0} | {:.1} | `{cmd}` |",
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
        rows.push(serde_json::json!({ "nodes": n, "tool": "cutover", "wall_s": b.wall_s, "peak_rss_mb": b.peak_rss_mb }));
        if let (Some(tf), true) = (&tf, n <= 2_000) {
            let exec = Dag::layered(n / 10, 10, &[Kind::Exec], 0);
            let tdir = terraform_workdir(tf, &exec, &format!("apply-tf-{n}"));
            let r = measure_in(tf, &tdir, &["apply", "-auto-approve", "-input=false"]);
            let _ = writeln!(
                md,
                "| {n} | Terraform | {:.3} | {:.0} | {:.1} | `terraform apply -auto-approve` |",
                r.wall_s,
                r.wall_s * 1e6 / n as f64,
                r.peak_rss_mb
            );
            rows.push(serde_json::json!({ "nodes": n, "tool": "terraform", "wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb }));
        }
    }
    if tf.is_none() {
        md.push_str("\nTerraform was not found on PATH (1.4 or newer): its rows are missing.\n");
    }
    write_results(
        out,
        "apply",
        serde_json::json!({ "suite": "apply", "rows": rows }),
        &md,
    );
}

/// The cost of making one transition durable, against the size of the lockfile.
pub fn journal(out: &Path) {
    use cutover::state::{JournalStore, Lockfile, NodeState, NodeStatus, Record, StateWriter};
    let mut md = String::from("| nodes in the lockfile | journal append + fsync (µs per transition) | rewrite whole lockfile + fsync (µs per transition) | ratio |\n|---:|---:|---:|---:|\n");
    let mut rows = Vec::new();
    for n in [1_000usize, 10_000, 100_000] {
        let dir = scratch(&format!("journal-{n}"));
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
            backend
                .append(&[Record::node(
                    "lineage",
                    &format!("step.n{i}"),
                    NodeState::new(NodeStatus::Started, "d"),
                )])
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
    }
    write_results(
        out,
        "journal",
        serde_json::json!({ "suite": "journal", "rows": rows }),
        &md,
    );
}

/// Makespan of apply over the critical-path bound on seeded random sleep DAGs.
pub fn makespan(bin: &Path, out: &Path) {
    let tf = terraform();
    let mut md = String::from("| DAG | nodes | widest wave | critical path (ms) | tool | parallelism | makespan (ms) | makespan ÷ critical path | makespan ÷ max(critical path, work ÷ parallelism) |\n|---|---:|---:|---:|---|---:|---:|---:|---:|\n");
    let mut rows = Vec::new();
    for seed in [1u64, 2, 3] {
        let dag = Dag::random(60, 8, 0x9e37_79b9_7f4a_7c15 ^ seed, &[Kind::Wait]);
        let (cp, width, work) = (dag.critical_path_ms(), dag.width(), dag.work_ms());
        for parallelism in [4usize, 10, 64] {
            let dir = scratch(&format!("makespan-{seed}-{parallelism}"));
            dag.write_cutover(&dir, false).expect("spec");
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
            let ms = (last - first).num_milliseconds() as u64;
            row(
                &mut md,
                &mut rows,
                seed,
                width,
                cp,
                work,
                "cutover",
                parallelism,
                ms,
            );
            if let (Some(tf), 10) = (&tf, parallelism) {
                let tdir = terraform_workdir(tf, &dag, &format!("makespan-tf-{seed}"));
                let r = measure_in(
                    tf,
                    &tdir,
                    &["apply", "-auto-approve", "-input=false", "-parallelism=10"],
                );
                row(
                    &mut md,
                    &mut rows,
                    seed,
                    width,
                    cp,
                    work,
                    "Terraform (whole apply)",
                    parallelism,
                    (r.wall_s * 1000.0) as u64,
                );
            }
        }
    }
    if tf.is_none() {
        md.push_str("\nTerraform was not found on PATH (1.4 or newer): its rows are missing.\n");
    }
    write_results(
        out,
        "makespan",
        serde_json::json!({ "suite": "makespan", "rows": rows }),
        &md,
    );
}

#[allow(clippy::too_many_arguments)]
fn row(
    md: &mut String,
    rows: &mut Vec<serde_json::Value>,
    seed: u64,
    width: usize,
    cp: u64,
    work: u64,
    tool: &str,
    parallelism: usize,
    ms: u64,
) {
    let ratio = ms as f64 / cp as f64;
    let bound = (cp as f64).max(work as f64 / parallelism as f64);
    let to_bound = ms as f64 / bound;
    let _ = writeln!(md, "| random, seed {seed} | 60 | {width} | {cp} | {tool} | {parallelism} | {ms} | {ratio:.3} | {to_bound:.3} |");
    println!("makespan, seed {seed}, {tool}, parallelism {parallelism:>2}: {ms} ms; critical path {cp} ms ({ratio:.3}); bound {bound:.0} ms ({to_bound:.3})");
    rows.push(serde_json::json!({ "seed": seed, "nodes": 60, "width": width, "critical_path_ms": cp, "work_ms": work, "tool": tool, "parallelism": parallelism, "makespan_ms": ms, "ratio": ratio, "ratio_to_bound": to_bound }));
}

/// Refresh of N objects on a real PostgreSQL server (CUTOVER_TEST_PG): the
/// `done_when` queries of N sql steps, read concurrently by `cutover plan`,
/// against the same queries run one by one with `psql`, as a runbook script would.
pub fn refresh(bin: &Path, out: &Path) {
    let Ok(url) = std::env::var("CUTOVER_TEST_PG") else {
        println!("refresh: CUTOVER_TEST_PG is not set; start PostgreSQL with scripts/services.sh (start_services) first");
        write_results(
            out,
            "refresh",
            serde_json::json!({ "suite": "refresh", "rows": [] }),
            "CUTOVER_TEST_PG was not set: no PostgreSQL server to measure against.\n",
        );
        return;
    };
    let mut md = String::from("| objects | cutover plan, parallelism 10 (s) | psql one by one (s) | ratio | command |\n|---:|---:|---:|---:|---|\n");
    let mut rows = Vec::new();
    for n in [100usize, 500] {
        let dir = scratch(&format!("refresh-{n}"));
        let mut spec = String::from("variable \"db\" {\n  type = string\n  sensitive = true\n}\n");
        let mut script = String::from("set -e\n");
        for i in 0..n {
            let q = format!("SELECT count(*) > {i} FROM pg_class");
            let _ = writeln!(spec, "step \"sql\" \"s{i}\" {{\n  database  = var.db\n  sql       = \"SELECT 1\"\n  done_when = \"{q}\"\n}}");
            let _ = writeln!(script, "psql \"$DB\" -XAtqc \"{q}\" >/dev/null");
        }
        std::fs::write(dir.join("main.hcl"), spec).expect("spec");
        std::fs::write(dir.join("by-hand.sh"), script).expect("script");
        let var = format!("db={url}");
        let ours = best_of(3, || {
            measure_in(bin, &dir, &["plan", "-no-color", "-var", &var])
        });
        assert_eq!(ours.code, 0, "plan failed");
        let start = Instant::now();
        let status = std::process::Command::new("sh")
            .arg("by-hand.sh")
            .current_dir(&dir)
            .env("DB", &url)
            .status()
            .expect("sh");
        assert!(status.success(), "psql script failed");
        let theirs = start.elapsed().as_secs_f64();
        let _ = writeln!(md, "| {n} | {:.3} | {theirs:.3} | {:.1}× | `cutover plan -var db=URL` vs `sh by-hand.sh` |", ours.wall_s, theirs / ours.wall_s);
        println!("refresh {n} done_when queries: cutover {:.3} s, psql one by one {theirs:.3} s ({:.1}×)", ours.wall_s, theirs / ours.wall_s);
        rows.push(serde_json::json!({ "objects": n, "cutover_s": ours.wall_s, "psql_s": theirs }));
    }
    write_results(
        out,
        "refresh",
        serde_json::json!({ "suite": "refresh", "rows": rows }),
        &md,
    );
}

/// Refresh of N SSM parameters and M ECS services on moto (CUTOVER_TEST_AWS_ENDPOINT):
/// `cutover plan` against the same reads one by one with the `aws` CLI.
pub fn refresh_aws(bin: &Path, out: &Path) {
    let Ok(endpoint) = std::env::var("CUTOVER_TEST_AWS_ENDPOINT") else {
        println!("refresh-aws: CUTOVER_TEST_AWS_ENDPOINT is not set; start moto with scripts/services.sh (start_services) first");
        write_results(
            out,
            "refresh-aws",
            serde_json::json!({ "suite": "refresh-aws", "rows": [] }),
            "CUTOVER_TEST_AWS_ENDPOINT was not set: no moto server to measure against.\n",
        );
        return;
    };
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let (params, services) = (1_000usize, 200usize);
    let cluster = format!("bench-{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ep = endpoint.clone();
    let cl = cluster.clone();
    rt.block_on(async move {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(ep)
            .load()
            .await;
        let ssm = aws_sdk_ssm::Client::new(&conf);
        for i in 0..params {
            ssm.put_parameter()
                .name(format!("/bench/{cl}/p{i}"))
                .value("on")
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .overwrite(true)
                .send()
                .await
                .expect("put_parameter");
        }
        let ecs = aws_sdk_ecs::Client::new(&conf);
        ecs.create_cluster()
            .cluster_name(&cl)
            .send()
            .await
            .expect("cluster");
        ecs.register_task_definition()
            .family("bench")
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image("bench:1")
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .expect("task definition");
        for i in 0..services {
            ecs.create_service()
                .cluster(&cl)
                .service_name(format!("s{i}"))
                .task_definition("bench")
                .desired_count(1)
                .send()
                .await
                .expect("service");
        }
    });
    let mut md = String::from("| objects | how | wall (s) | per object (ms) | ratio | command |\n|---:|---|---:|---:|---:|---|\n");
    let mut rows = Vec::new();
    let provider = format!(
        "provider \"aws\" {{\n  region   = \"us-east-1\"\n  endpoint = \"{endpoint}\"\n}}\n"
    );
    let spec = |n_params: usize, n_services: usize| {
        let mut s = provider.clone();
        for i in 0..n_params {
            let _ = writeln!(s, "resource \"aws_ssm_parameter\" \"p{i}\" {{\n  name  = \"/bench/{cluster}/p{i}\"\n  value = \"on\"\n}}");
        }
        for i in 0..n_services {
            let _ = writeln!(s, "resource \"aws_ecs_service\" \"s{i}\" {{\n  cluster       = \"{cluster}\"\n  service       = \"s{i}\"\n  desired_count = 1\n}}");
        }
        s
    };
    // The aws CLI, one call per object, on a sample; its cost per call is steady, so the total is projected.
    let sample = 60usize;
    let start = Instant::now();
    for i in 0..sample {
        let (svc, args): (&str, Vec<String>) = if i % 6 == 5 {
            (
                "ecs",
                vec![
                    "describe-services".into(),
                    "--cluster".into(),
                    cluster.clone(),
                    "--services".into(),
                    format!("s{}", i % services),
                ],
            )
        } else {
            (
                "ssm",
                vec![
                    "get-parameter".into(),
                    "--name".into(),
                    format!("/bench/{cluster}/p{i}"),
                ],
            )
        };
        let ok = std::process::Command::new("aws")
            .args(["--endpoint-url", &endpoint, "--region", "us-east-1", svc])
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "the aws CLI failed (is it installed?)");
    }
    let cli_per_call = start.elapsed().as_secs_f64() / sample as f64;
    for (n_params, n_services) in [(250usize, 50usize), (500, 100), (1_000, 200)] {
        let n = n_params + n_services;
        let dir = scratch(&format!("refresh-aws-{n}"));
        std::fs::write(dir.join("main.hcl"), spec(n_params, n_services)).expect("spec");
        for parallelism in [10usize, 50] {
            let r = best_of(3, || {
                measure_in(
                    bin,
                    &dir,
                    &[
                        "plan",
                        "-no-color",
                        "-parallelism",
                        &parallelism.to_string(),
                    ],
                )
            });
            assert_eq!(r.code, 0, "plan failed");
            let cli = cli_per_call * n as f64;
            let _ = writeln!(
                md,
                "| {n} ({n_params} SSM + {n_services} ECS) | cutover plan, parallelism {parallelism} | {:.2} | {:.2} | {:.0}× | `cutover plan -parallelism {parallelism}` |",
                r.wall_s,
                r.wall_s * 1000.0 / n as f64,
                cli / r.wall_s
            );
            println!("refresh {n} AWS objects, parallelism {parallelism}: cutover {:.2} s; aws CLI one by one {cli:.1} s (projected): {:.0}×", r.wall_s, cli / r.wall_s);
            rows.push(serde_json::json!({ "objects": n, "parallelism": parallelism, "cutover_s": r.wall_s, "cli_projected_s": cli }));
        }
        let _ = writeln!(md, "| {n} | aws CLI one by one (projected from {sample} measured calls) | {:.1} | {:.0} | 1× | `aws ssm get-parameter` / `aws ecs describe-services` |", cli_per_call * n as f64, cli_per_call * 1000.0);
    }
    write_results(
        out,
        "refresh-aws",
        serde_json::json!({ "suite": "refresh-aws", "cli_per_call_s": cli_per_call, "rows": rows }),
        &md,
    );
}

/// A scratch directory holding `dag` as Terraform configuration, already
/// through `terraform init`, so only the measured command remains.
fn terraform_workdir(tf: &Path, dag: &Dag, name: &str) -> PathBuf {
    let dir = scratch(name);
    dag.write_terraform(&dir).expect("terraform config");
    assert_eq!(
        measure_in(tf, &dir, &["init", "-input=false"]).code,
        0,
        "terraform init in {}",
        dir.display()
    );
    dir
}
