//! Refresh against a real Kubernetes API server, and the shipped binary's size.

use crate::measure::{best_of, measure_in, scratch, write_results};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

fn kubectl(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> bool {
    let mut cmd = std::process::Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    cmd.stdout(std::process::Stdio::null());
    let Some(input) = stdin else {
        return cmd.status().is_ok_and(|s| s.success());
    };
    cmd.stdin(std::process::Stdio::piped());
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    if let Some(mut pipe) = child.stdin.take() {
        let _ = std::io::Write::write_all(&mut pipe, input.as_bytes());
    }
    child.wait().is_ok_and(|s| s.success())
}

/// `cutover plan` refreshing 500 ConfigMaps and 200 Deployments (no changes)
/// against `kubectl get` of each, one by one, as a runbook does
/// (CUTOVER_TEST_KUBECONFIG; `kubectl` on PATH).
pub fn refresh_k8s(bin: &Path, out: &Path) {
    let (Ok(kc), true) = (std::env::var("CUTOVER_TEST_KUBECONFIG"), kubectl_on_path()) else {
        println!("refresh-k8s: needs CUTOVER_TEST_KUBECONFIG (scripts/services.sh start_kubernetes) and kubectl on PATH");
        write_results(
            out,
            "refresh-k8s",
            serde_json::json!({ "suite": "refresh-k8s", "rows": [] }),
            "CUTOVER_TEST_KUBECONFIG or kubectl missing: nothing measured.\n",
        );
        return;
    };
    let (maps, deployments) = (500usize, 200usize);
    let ns = format!("bench-{}", std::process::id());
    assert!(
        kubectl(&kc, &["create", "namespace", &ns], None),
        "create namespace"
    );
    let mut items = Vec::new();
    for i in 0..maps {
        items.push(serde_json::json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": format!("cm{i}"), "namespace": ns }, "data": { "value": i.to_string() } }));
    }
    for i in 0..deployments {
        let app = format!("d{i}");
        items.push(serde_json::json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": app, "namespace": ns }, "spec": { "replicas": 0, "selector": { "matchLabels": { "app": app } }, "template": { "metadata": { "labels": { "app": app } }, "spec": { "containers": [{ "name": "app", "image": format!("web:{i}") }] } } } }));
    }
    let list =
        serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items }).to_string();
    assert!(
        kubectl(&kc, &["apply", "-f", "-"], Some(&list)),
        "create objects"
    );
    let dir = scratch("refresh-k8s");
    let mut spec = format!(
        "provider \"kubernetes\" {{\n  config_path = \"{kc}\"\n  namespace   = \"{ns}\"\n}}\n"
    );
    let mut script = String::from("set -e\n");
    for i in 0..maps {
        let _ = writeln!(spec, "resource \"kubernetes_config_map\" \"cm{i}\" {{\n  name = \"cm{i}\"\n  data = {{ value = \"{i}\" }}\n}}");
        let _ = writeln!(
            script,
            "kubectl --kubeconfig \"$KC\" -n {ns} get configmap cm{i} -o json >/dev/null"
        );
    }
    for i in 0..deployments {
        let _ = writeln!(spec, "resource \"kubernetes_deployment\" \"d{i}\" {{\n  name     = \"d{i}\"\n  replicas = 0\n  images   = {{ app = \"web:{i}\" }}\n}}");
        let _ = writeln!(
            script,
            "kubectl --kubeconfig \"$KC\" -n {ns} get deployment d{i} -o json >/dev/null"
        );
    }
    std::fs::write(dir.join("main.hcl"), spec).expect("spec");
    std::fs::write(dir.join("by-hand.sh"), script).expect("script");
    let ours = best_of(3, || {
        measure_in(bin, &dir, &["plan", "-no-color", "-detailed-exitcode"])
    });
    assert_eq!(ours.code, 0, "plan found changes or failed");
    let start = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("by-hand.sh")
        .current_dir(&dir)
        .env("KC", &kc)
        .status()
        .expect("sh");
    assert!(status.success(), "kubectl script failed");
    let theirs = start.elapsed().as_secs_f64();
    kubectl(&kc, &["delete", "namespace", &ns, "--wait=false"], None);
    let ratio = theirs / ours.wall_s;
    println!("refresh-k8s {maps} ConfigMaps + {deployments} Deployments: cutover {:.3} s ({:.0} MB), kubectl get one by one {theirs:.3} s ({ratio:.1}×)", ours.wall_s, ours.peak_rss_mb);
    let md = format!("| objects | cutover plan (s) | kubectl get one by one (s) | ratio | command |\n|---:|---:|---:|---:|---|\n| {maps} ConfigMaps + {deployments} Deployments | {:.3} | {theirs:.3} | {ratio:.1}× | `cutover plan -detailed-exitcode` vs `sh by-hand.sh` |\n", ours.wall_s);
    write_results(
        out,
        "refresh-k8s",
        serde_json::json!({ "suite": "refresh-k8s", "rows": [{ "config_maps": maps, "deployments": deployments, "cutover_s": ours.wall_s, "kubectl_s": theirs }] }),
        &md,
    );
}

fn kubectl_on_path() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The size of the binary next to this one, with and without its symbols.
pub fn size(bin: &Path, out: &Path) {
    let bytes = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let shipped = bytes(bin);
    let stripped_path = std::env::temp_dir().join("cutover-bench-stripped");
    let stripped = std::process::Command::new("strip")
        .arg("-o")
        .arg(&stripped_path)
        .arg(bin)
        .status()
        .is_ok_and(|s| s.success())
        .then(|| bytes(&stripped_path));
    let mb = |b: u64| b as f64 / 1_000_000.0;
    let stripped_mb = stripped.map(|s| format!("{:.1}", mb(s)));
    let stripped_mb = stripped_mb.unwrap_or_else(|| "?".into());
    println!(
        "size: {} {:.1} MB (symbols kept), {stripped_mb} MB stripped (MB = 10^6 bytes)",
        bin.display(),
        mb(shipped),
    );
    let md = format!(
        "| binary | size (MB, 10^6 bytes) |\n|---|---:|\n| `target/release/cutover` as built (symbols kept, no debug info) | {:.1} |\n| the same, `strip`ped | {stripped_mb} |\n",
        mb(shipped),
    );
    write_results(
        out,
        "size",
        serde_json::json!({ "suite": "size", "bytes": shipped, "stripped_bytes": stripped }),
        &md,
    );
}
