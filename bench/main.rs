//! cutover's benchmark suite: generates synthetic migrations and measures the
//! real binary on them (and Terraform on the same graphs, when `terraform`
//! 1.4 or newer is on PATH). Prints figures; never passes or fails on time.
//!
//! ```text
//! cargo build --release
//! target/release/cutover-bench all                 # everything; results in bench/results
//! target/release/cutover-bench plan [--max N]      # plan: wall time, peak RSS, growth; empty and applied state
//! target/release/cutover-bench apply [--max N]     # apply of zero-duration wait steps
//! target/release/cutover-bench journal             # cost of one durable transition vs N
//! target/release/cutover-bench makespan            # makespan / critical path on seeded random sleep DAGs
//! target/release/cutover-bench refresh-pg          # reads on PostgreSQL vs psql one by one (CUTOVER_TEST_PG); also `refresh`
//! target/release/cutover-bench refresh-aws         # 1,000 SSM + 200 ECS reads on moto vs the aws CLI (CUTOVER_TEST_AWS_ENDPOINT)
//! target/release/cutover-bench refresh-k8s         # 500 ConfigMaps + 200 Deployments vs kubectl get one by one (CUTOVER_TEST_KUBECONFIG)
//! target/release/cutover-bench size                # the release binary's size, with and without symbols
//! target/release/cutover-bench batches             # a 100,000- and 1,000,000-row backfill in batches vs a psql script (CUTOVER_TEST_PG)
//! target/release/cutover-bench fleet               # 1,000 targets × 10 nodes as a fleet and as for_each; for_each over 10,000 steps; Terraform for_each over 1,000
//! target/release/cutover-bench gen --nodes N --out DIR [--shape layered|random] [--width W] [--seed S]
//!                                  [--kind wait,exec,local_file] [--expected-duration] [--terraform DIR]
//! ```

mod batches;
mod dag;
mod fleet;
mod footprint;
mod measure;
mod suites;

use dag::{Dag, Kind};
use std::path::PathBuf;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(args: &[String], name: &str, default: usize) -> usize {
    arg(args, name)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

const USAGE: &str = "usage: cutover-bench all | plan | apply | journal | makespan | refresh-pg | refresh-aws | refresh-k8s | size | batches | fleet [--max N] [--results DIR] | gen --nodes N --out DIR [options]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Asking for help runs nothing (`gen --help` once wrote 1,000 nodes to ./synthetic).
    if args
        .iter()
        .any(|a| a == "--help" || a == "-h" || a == "help")
    {
        println!("{USAGE}");
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let bin = exe.with_file_name("cutover");
    let out = PathBuf::from(arg(&args, "--results").unwrap_or_else(|| "bench/results".into()));
    let max = num(&args, "--max", 100_000);
    match args.first().map(String::as_str) {
        Some("gen") => {
            let n = num(&args, "--nodes", 1000);
            let kinds = arg(&args, "--kind")
                .map(|k| Kind::parse_list(&k))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| vec![Kind::File, Kind::Exec]);
            let dag = match arg(&args, "--shape").as_deref() {
                Some("random") => Dag::random(
                    n,
                    num(&args, "--percent", 8) as u64,
                    num(&args, "--seed", 1) as u64,
                    &kinds,
                ),
                _ => {
                    let width = num(&args, "--width", n.div_ceil(10).max(1));
                    let mut d = Dag::layered(
                        width,
                        n.div_ceil(width),
                        &kinds,
                        num(&args, "--ms", 0) as u64,
                    );
                    d.nodes.truncate(n);
                    d
                }
            };
            let dir = PathBuf::from(arg(&args, "--out").unwrap_or_else(|| "synthetic".into()));
            dag.write_cutover(&dir, args.iter().any(|a| a == "--expected-duration"))
                .expect("generate");
            if let Some(tf) = arg(&args, "--terraform") {
                dag.write_terraform(&PathBuf::from(tf))
                    .expect("terraform config");
            }
            println!(
                "wrote {n} nodes to {} (critical path {} ms, widest wave {})",
                dir.display(),
                dag.critical_path_ms(),
                dag.width()
            );
        }
        Some("plan") => suites::plan(&bin, max, &out),
        Some("apply") => suites::apply(&bin, max, &out),
        Some("journal") => suites::journal(&out),
        Some("makespan") => suites::makespan(&bin, &out),
        Some("refresh" | "refresh-pg") => suites::refresh(&bin, &out),
        Some("refresh-aws") => suites::refresh_aws(&bin, &out),
        Some("refresh-k8s") => footprint::refresh_k8s(&bin, &out),
        Some("size") => footprint::size(&bin, &out),
        Some("batches") => batches::batches(&bin, &out, &[100_000, 1_000_000]),
        Some("fleet") => fleet::fleet(&bin, &out),
        Some("all") => {
            suites::plan(&bin, max, &out);
            suites::apply(&bin, max, &out);
            suites::journal(&out);
            suites::makespan(&bin, &out);
            suites::refresh(&bin, &out);
            suites::refresh_aws(&bin, &out);
            footprint::refresh_k8s(&bin, &out);
            footprint::size(&bin, &out);
            batches::batches(&bin, &out, &[100_000, 1_000_000]);
            fleet::fleet(&bin, &out);
        }
        _ => eprintln!("{USAGE}"),
    }
}
