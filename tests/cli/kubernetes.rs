//! The kubernetes provider against a real API server (started by
//! scripts/test.sh; its kubeconfig in CUTOVER_TEST_KUBECONFIG). There is no
//! kubelet: `Kubelet` plays it by marking pods running and ready.

use crate::support::Project;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn kubeconfig() -> String {
    std::env::var("CUTOVER_TEST_KUBECONFIG").expect("CUTOVER_TEST_KUBECONFIG is not set: run the tests with ./scripts/test.sh, which starts a Kubernetes API server")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn client() -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn unique() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "t{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// A fresh, empty namespace.
async fn bare_namespace() -> String {
    let ns = unique();
    Api::<Namespace>::all(client().await)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": ns } })).unwrap(),
        )
        .await
        .unwrap();
    ns
}

/// A fresh namespace with a Deployment `web` (1 replica) and a ConfigMap
/// `routing` whose key `owner` belongs to another field manager.
async fn namespace() -> String {
    let c = client().await;
    let ns = bare_namespace().await;
    let d: Deployment = serde_json::from_value(json!({
        "metadata": { "name": "web", "namespace": ns },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [{ "name": "app", "image": "web:1" }] } }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(c.clone(), &ns)
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "routing", "namespace": ns }, "data": { "owner": "platform-team" } });
    Api::<ConfigMap>::namespaced(c, &ns)
        .patch(
            "routing",
            &PatchParams::apply("ops").force(),
            &Patch::Apply(&cm),
        )
        .await
        .unwrap();
    ns
}

/// Plays the kubelet: marks every pod of the namespace running and ready, and
/// keeps a mounted ConfigMap's keys as files in a directory, until dropped.
struct Kubelet(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Kubelet {
    fn start(ns: &str) -> Kubelet {
        Kubelet::mounting(ns, None)
    }

    /// Also projects ConfigMap `name` into `dir`, one file per key, each
    /// replaced atomically, as a kubelet updates a ConfigMap volume.
    fn mounting(ns: &str, config_map: Option<(&str, std::path::PathBuf)>) -> Kubelet {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, ns) = (stop.clone(), ns.to_string());
        let config_map = config_map.map(|(n, d)| (n.to_string(), d));
        std::thread::spawn(move || {
            let rt = runtime();
            rt.block_on(async move {
                let pods: Api<Pod> = Api::namespaced(client().await, &ns);
                let maps: Api<ConfigMap> = Api::namespaced(client().await, &ns);
                while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Some((name, dir)) = &config_map {
                        if let Ok(Some(cm)) = maps.get_opt(name).await {
                            let _ = std::fs::create_dir_all(dir);
                            for (k, v) in cm.data.unwrap_or_default() {
                                let tmp = dir.join(format!("..{k}.tmp"));
                                if std::fs::write(&tmp, v).is_ok() {
                                    let _ = std::fs::rename(&tmp, dir.join(&k));
                                }
                            }
                        }
                    }
                    if let Ok(list) = pods.list(&ListParams::default()).await {
                        for p in list {
                            let name = p.metadata.name.unwrap_or_default();
                            let ready = p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                            if !ready {
                                let status = json!({ "status": { "phase": "Running", "conditions": [{ "type": "Ready", "status": "True" }] } });
                                let _ = pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await;
                            }
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            });
        });
        Kubelet(stop)
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One object of the test cluster, if it exists.
fn get<K>(ns: &str, name: &str) -> Option<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    runtime().block_on(async {
        Api::<K>::namespaced(client().await, ns)
            .get_opt(name)
            .await
            .unwrap()
    })
}

fn provider() -> String {
    format!(
        "provider \"kubernetes\" {{\n  config_path = \"{}\"\n}}\n",
        kubeconfig()
    )
}

#[test]
fn config_map_keys_are_managed_one_by_one_and_other_managers_fields_survive() {
    let rt = runtime();
    let ns = rt.block_on(namespace());
    let spec = format!("{}resource \"kubernetes_config_map\" \"routing\" {{\n  namespace = \"{ns}\"\n  name = \"routing\"\n  data = {{ traffic_percent = \"10\" }}\n}}\n", provider());
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("+ data[\"traffic_percent\"] = \"10\""),
        "only the key the spec names is diffed: {out}"
    );
    assert!(!out.contains("platform-team"), "{out}");
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let cm = get::<ConfigMap>(&ns, "routing").unwrap();
    let data = cm.data.unwrap();
    assert_eq!(data["traffic_percent"], "10");
    assert_eq!(
        data["owner"], "platform-team",
        "a field another manager owns is left alone"
    );
    assert_eq!(p.run(&["plan", "-detailed-exitcode"]).0, 0);
    let (code, out, _) = p.run(&["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let data = get::<ConfigMap>(&ns, "routing").unwrap().data.unwrap();
    assert!(
        !data.contains_key("traffic_percent"),
        "the key the migration added is gone: {data:?}"
    );
    assert_eq!(data["owner"], "platform-team");
}

#[test]
fn many_config_maps_are_refreshed_through_one_list_with_the_same_answers() {
    // Six ConfigMaps in one namespace are read with a list, one in another
    // namespace with a GET; the answers are the same as one read each.
    let rt = runtime();
    let (ns, other) = (rt.block_on(namespace()), rt.block_on(bare_namespace()));
    let mut spec = provider();
    spec.push_str(&format!("resource \"kubernetes_config_map\" \"routing\" {{\n  namespace = \"{ns}\"\n  name = \"routing\"\n  data = {{ owner = \"platform-team\" }}\n}}\n"));
    for i in 0..5 {
        spec.push_str(&format!("resource \"kubernetes_config_map\" \"c{i}\" {{\n  namespace = \"{ns}\"\n  name = \"c{i}\"\n  data = {{ k = \"{i}\" }}\n}}\n"));
    }
    spec.push_str(&format!("resource \"kubernetes_config_map\" \"lone\" {{\n  namespace = \"{other}\"\n  name = \"lone\"\n  data = {{ k = \"x\" }}\n}}\n"));
    let p = Project::new().file("main.hcl", &spec);
    let (code, out, err) = p.run(&["plan", "-no-color"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("  = kubernetes_config_map.routing  the object already matches\n"),
        "{out}"
    );
    assert!(out.ends_with("Plan: 6 to create, 0 to update, 0 to delete, 0 steps to run, 0 gates to check; 0 done, 1 unchanged.\n"), "{out}");
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    // Another manager changes one key the spec names; the list sees it.
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c3", "namespace": ns }, "data": { "k": "changed", "extra": "ignored" } });
    rt.block_on(
        Api::<ConfigMap>::namespaced(rt.block_on(client()), &ns).patch(
            "c3",
            &PatchParams::apply("ops").force(),
            &Patch::Apply(&cm),
        ),
    )
    .unwrap();
    let (code, out, err) = p.run(&["plan", "-no-color"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("      ~ data[\"k\"] = \"changed\" → \"3\"\n"),
        "{out}"
    );
    assert!(!out.contains("ignored"), "{out}");
    assert!(out.ends_with("Plan: 0 to create, 1 to update, 0 to delete, 0 steps to run, 0 gates to check; 0 done, 6 unchanged.\n"), "{out}");
}

#[test]
fn deployments_scale_and_roll_out_and_a_stuck_rollout_times_out() {
    let rt = runtime();
    let ns = rt.block_on(namespace());
    let spec = format!(
        "{}resource \"kubernetes_deployment\" \"web\" {{\n  namespace = \"{ns}\"\n  name = \"web\"\n  replicas = 3\n  images = {{ app = \"web:2\" }}\n  env = {{ app = {{ MODE = \"v2\" }} }}\n}}\ngate \"k8s_rollout\" \"web\" {{\n  namespace = \"{ns}\"\n  name = \"web\"\n  interval = \"250ms\"\n  timeout = \"{{TIMEOUT}}\"\n  depends_on = [kubernetes_deployment.web]\n}}\n",
        provider()
    );
    // No kubelet: the pods never get ready, and the gate fails at its timeout.
    let p = Project::new().file("main.hcl", &spec.replace("{TIMEOUT}", "2s"));
    let (code, out, _) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   gate.web: did not hold within 2s; last measured:"),
        "{out}"
    );
    let d = get::<Deployment>(&ns, "web").unwrap();
    assert_eq!(
        d.spec.unwrap().replicas,
        Some(1),
        "rolled back to 1 replica: {out}"
    );
    // With the kubelet played, the rollout completes.
    let _kubelet = Kubelet::start(&ns);
    let p = Project::new().file("main.hcl", &spec.replace("{TIMEOUT}", "60s"));
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("held: 3 updated, 3 available, 3 ready of 3"),
        "{out}"
    );
    let d = get::<Deployment>(&ns, "web").unwrap();
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    let container = &spec.template.spec.unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("web:2"));
    let env = container.env.clone().unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "MODE" && e.value.as_deref() == Some("v2")),
        "{env:?}"
    );
    let (code, out, _) = p.run(&["plan", "-detailed-exitcode"]);
    assert_eq!(
        code, 0,
        "replicas, image and env read back as applied: {out}"
    );
    // Rolled back: the replicas, the image and the environment as they were.
    let (code, out, _) = p.run(&["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    let d = get::<Deployment>(&ns, "web").unwrap();
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    let container = &spec.template.spec.unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("web:1"));
    assert!(
        !container
            .env
            .clone()
            .unwrap_or_default()
            .iter()
            .any(|e| e.name == "MODE"),
        "{:?}",
        container.env
    );
}

#[test]
fn an_unreachable_api_server_is_a_clear_error() {
    let p = Project::new()
        .file("kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n- name: x\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: x\n    user: x\ncurrent-context: x\n")
        .file("main.hcl", "provider \"kubernetes\" {\n  config_path = \"kubeconfig\"\n}\nresource \"kubernetes_config_map\" \"c\" {\n  namespace = \"default\"\n  name = \"c\"\n  data = { a = \"1\" }\n}\n");
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refreshing kubernetes_config_map.c failed: reading ConfigMap default/c"),
        "{err}"
    );
    assert!(!p.dir.join("cutover.lock").exists());
}

#[test]
fn the_kubernetes_state_backend_passes_the_conformance_suite() {
    let ns = runtime().block_on(namespace());
    let settings: cutover::providers::Attrs = [("config_path".to_string(), json!(kubeconfig()))]
        .into_iter()
        .collect();
    cutover::state::conformance::run(|| {
        (
            cutover::state::kube::KubeBackend::new(&ns, &unique(), 15, settings.clone()).unwrap(),
            (),
        )
    });
}

#[test]
fn a_killed_applys_lease_expires_without_force_unlock() {
    let ns = runtime().block_on(namespace());
    let spec = |step: &str| {
        format!(
            "migration \"leased\" {{\n  state \"kubernetes\" {{\n    namespace = \"{ns}\"\n    config_path = \"{}\"\n    lease_seconds = 3\n  }}\n}}\nstep \"exec\" \"{step}\" {{\n  shell = \"echo {step} >> ran.log; sleep 20\"\n}}\n",
            kubeconfig()
        )
    };
    let p = Project::new().file("main.hcl", &spec("long"));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cutover"))
        .current_dir(&p.dir)
        .args(["apply", "-auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::wait_for_file(&p.dir.join("ran.log"));
    // While it runs (and renews its lease), a second apply is refused, naming it.
    let (code, _, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1);
    assert!(err.contains("the state is locked: apply by"), "{err}");
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (code, _, err) = p.run(&["state", "list"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = p.run(&["rollback", "-auto-approve"]);
    assert_eq!(
        code, 1,
        "still held after 4 s of a 3 s lease: it is being renewed ({err})"
    );
    child.kill().unwrap();
    let _ = child.wait();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (code, out, err) = p.run(&["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "the dead holder's lease expired: {out}{err}");
}

/// Creates the objects of a `kind: List` file (ConfigMaps and Deployments) in `ns`.
async fn create_objects(ns: &str, file: &std::path::Path) {
    let c = client().await;
    let list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    for item in list["items"].as_array().unwrap() {
        let pp = PostParams::default();
        match item["kind"].as_str().unwrap() {
            "ConfigMap" => {
                let o: ConfigMap = serde_json::from_value(item.clone()).unwrap();
                Api::<ConfigMap>::namespaced(c.clone(), ns)
                    .create(&pp, &o)
                    .await
                    .unwrap();
            }
            "Deployment" => {
                let o: Deployment = serde_json::from_value(item.clone()).unwrap();
                Api::<Deployment>::namespaced(c.clone(), ns)
                    .create(&pp, &o)
                    .await
                    .unwrap();
            }
            other => panic!("{file:?}: no support for {other} in this test"),
        }
    }
}

#[test]
fn proxy_agent_v2_climbs_the_ladder_and_rolls_back_to_0_when_a_gate_fails() {
    // Seed runbook 002 against the real API server and PostgreSQL.
    use crate::postgres::{fresh_db, psql};
    let rt = runtime();
    let counts = "SELECT string_agg(n::text, ',') FROM (SELECT count(*) AS n FROM users UNION ALL SELECT count(*) FROM projects UNION ALL SELECT count(*) FROM tasks UNION ALL SELECT count(*) FROM micro_steps UNION ALL SELECT count(*) FROM focus_sessions) c";
    let tables = "SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'projects', 'tasks', 'micro_steps', 'focus_sessions')";
    let deployment = |ns: &str, name: &str| {
        let spec = get::<Deployment>(ns, name).unwrap().spec.unwrap();
        let c = spec.template.spec.unwrap().containers[0].clone();
        let env: Vec<String> = c
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|e| format!("{}={}", e.name, e.value.unwrap_or_default()))
            .collect();
        (spec.replicas.unwrap_or(1), c.image.unwrap_or_default(), env)
    };
    let flags = |ns: &str| get::<ConfigMap>(ns, "feature-flags").unwrap().data.unwrap();
    let start = |hint: &str| {
        let ns = rt.block_on(bare_namespace());
        let p = Project::example("examples/proxy-agent-v2");
        rt.block_on(create_objects(&ns, &p.dir.join("fixtures/cluster.json")));
        let kubelet = Kubelet::mounting(
            &ns,
            Some(("feature-flags", p.dir.join("state/feature-flags"))),
        );
        (ns, fresh_db(hint), p, kubelet)
    };
    let port = crate::support::free_port().to_string();
    let run = |p: &Project, ns: &str, db: &str, command: &[&str]| {
        let vars = [
            format!("namespace={ns}"),
            format!("kubeconfig={}", kubeconfig()),
            format!("db={db}"),
            format!("port={port}"),
        ];
        let mut args = command.to_vec();
        args.extend(["-var-file", "fast.vars.hcl"]);
        for v in &vars {
            args.extend(["-var", v.as_str()]);
        }
        p.run(&args)
    };
    let apply = |p: &Project, ns: &str, db: &str, extra: &[&str]| {
        run(p, ns, db, &[&["apply", "-auto-approve"], extra].concat())
    };

    let (ns, db, p, _kubelet) = start("proxy");
    // The plan for review, against the cluster and database as they are.
    let (code, md, err) = run(&p, &ns, &db, &["plan", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(
        "proxy_agent_v2_markdown",
        md.replace(&ns, "NAMESPACE").replace(&port, "PORT")
    );
    let (code, out, err) = apply(&p, &ns, &db, &[]);
    let router = p.dir.join("state/router.pid");
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill $(cat {}) 2>/dev/null", router.display()))
        .status();
    assert_eq!(code, 0, "{out}{err}");
    for stage in [1, 5, 10, 25, 50, 75, 90, 95, 100] {
        assert!(
            out.contains(&format!(
                "done     module.canary.rollout.ladder[{stage}].gate.baseline"
            )),
            "stage {stage}: {out}"
        );
    }
    let data = flags(&ns);
    assert_eq!(data["v2_traffic_percentage"], "100");
    assert_eq!(
        data["log_level"], "info",
        "keys the migration does not name are left alone"
    );
    let (replicas, image, env) = deployment(&ns, "api-v2");
    assert_eq!((replicas, image.as_str()), (3, "proxy-agent/api:v2.0.0"));
    assert!(env.contains(&"USE_POSTGRESQL=true".to_string()), "{env:?}");
    assert_eq!(deployment(&ns, "api").0, 1, "v1 on standby");
    assert_eq!(psql(&db, counts), "40,120,960,2880,400");
    let (_, out, _) = p.run(&["output", "rows_copied", "--json"]);
    assert!(out.contains("\"micro_steps\":2880"), "{out}");

    // v2 fails once a quarter of the traffic reaches it: the gate fails, and
    // the percentage goes back to 0, v2 back to 0 replicas and its old
    // configuration, the PostgreSQL tables are dropped.
    let (ns, db, p, _kubelet) = start("proxy_fail");
    let (code, out, _) = apply(&p, &ns, &db, &["-var", "fail_at=25"]);
    assert_eq!(code, 1, "{out}");
    // Three unhealthy measurements in a row fail the stage at once, long
    // before its 20 s timeout.
    assert!(
        out.contains("FAILED   module.canary.rollout.ladder[25].gate."),
        "{out}"
    );
    assert!(
        out.contains("did not hold in 3 measurements in a row (failure_limit); last measured: HTTP 200, /v2/error_rate = 8"),
        "{out}"
    );
    assert!(
        out.contains("done     module.canary.rollout.ladder[10].gate.baseline"),
        "{out}"
    );
    let data = flags(&ns);
    assert_eq!(data["v2_traffic_percentage"], "0", "{out}");
    assert_eq!(data["log_level"], "info");
    let (replicas, image, env) = deployment(&ns, "api-v2");
    assert_eq!(
        (replicas, image.as_str()),
        (0, "proxy-agent/api:v2.0.0-rc.1"),
        "{out}"
    );
    assert!(env.is_empty(), "{env:?}");
    assert_eq!(deployment(&ns, "api").0, 3);
    assert_eq!(psql(&db, tables), "0", "the v2 tables are gone");
    // The router was stopped (gone, or a zombie nobody has reaped yet).
    let pid = p.read("state/router.pid");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "{stat}");
}

#[test]
fn secrets_are_applied_and_rolled_back_without_their_values_shown_or_stored() {
    // Configuration as kubectl finds it: KUBECONFIG names a file whose current
    // context is unreachable; the provider block picks the working context by
    // name, and gives the namespace the blocks leave out.
    let rt = runtime();
    let ns = rt.block_on(namespace());
    let mut kc: serde_json::Value =
        serde_json::to_value(kube::config::Kubeconfig::read_from(kubeconfig()).unwrap()).unwrap();
    let context = kc["current-context"].as_str().unwrap().to_string();
    kc["clusters"].as_array_mut().unwrap().push(json!({ "name": "gone", "cluster": { "server": "https://127.0.0.1:1", "insecure-skip-tls-verify": true } }));
    let user = kc["users"][0]["name"].clone();
    kc["contexts"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "gone", "context": { "cluster": "gone", "user": user } }));
    kc["current-context"] = json!("gone");
    let p = Project::new()
        .file("kubeconfig.json", &kc.to_string())
        .file("main.hcl", &format!("provider \"kubernetes\" {{\n  context = \"{context}\"\n  namespace = \"{ns}\"\n}}\nvariable \"password\" {{\n  type = string\n  sensitive = true\n}}\nresource \"kubernetes_secret\" \"db\" {{\n  name = \"db-credentials\"\n  data = {{ password = var.password, user = \"app\" }}\n}}\n"));
    let kubeconfig = p.dir.join("kubeconfig.json");
    let kubeconfig = kubeconfig.to_str().unwrap();
    let kc = |p: &Project, args: &[&str]| p.run_env(&[("KUBECONFIG", kubeconfig)], args);
    let secret = || get::<k8s_openapi::api::core::v1::Secret>(&ns, "db-credentials");
    let value = "pw-7f3a9c1e";
    let var = format!("password={value}");
    let (code, out, err) = kc(&p, &["plan", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+ kubernetes_secret.db"), "{out}");
    let (code, out, err) = kc(&p, &["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    let data = secret().expect("created").data.unwrap();
    assert_eq!(data["password"].0, value.as_bytes());
    assert_eq!(data["user"].0, b"app");
    assert!(!out.contains(value) && !err.contains(value), "{out}{err}");
    assert!(
        !p.read("cutover.lock").contains(value),
        "stored only as a digest"
    );
    let (code, out, _) = kc(&p, &["plan", "-detailed-exitcode", "-var", &var]);
    assert_eq!(code, 0, "{out}");
    // A changed value is a change, shown without either value.
    let (code, out, _) = kc(
        &p,
        &["plan", "-detailed-exitcode", "-var", "password=other"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(!out.contains(value) && !out.contains("other\""), "{out}");
    // The secret did not exist before: rolling back deletes it.
    let (code, out, err) = kc(&p, &["rollback", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(secret().is_none(), "{out}");
    // A secret that existed before: its old value was recorded only as a
    // digest, so rollback cannot put it back and says so.
    let before = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "db-credentials", "namespace": ns }, "stringData": { "password": "old-value" } });
    rt.block_on(async {
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client().await, &ns)
            .patch(
                "db-credentials",
                &PatchParams::apply("ops"),
                &Patch::Apply(&before),
            )
            .await
            .unwrap()
    });
    let (code, out, err) = kc(&p, &["apply", "-auto-approve", "-var", &var]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!p.read("cutover.lock").contains("old-value"));
    let (code, out, _) = kc(&p, &["rollback", "-auto-approve", "-var", &var]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "its prior `data` is sensitive and was recorded only as a digest; restore it by hand"
        ),
        "{out}"
    );
    // Without the context, the current one is used, and it is unreachable.
    let p2 = Project::new().file(
        "main.hcl",
        "resource \"kubernetes_config_map\" \"c\" {\n  namespace = \"default\"\n  name = \"c\"\n  data = { a = \"1\" }\n}\n",
    );
    let (code, _, err) = kc(&p2, &["plan"]);
    assert_eq!(code, 1);
    assert!(err.contains("reading ConfigMap default/c"), "{err}");
}

#[test]
fn a_condition_gate_waits_for_any_objects_condition() {
    let rt = runtime();
    let ns = rt.block_on(namespace());
    let spec = |timeout: &str| {
        format!("{}gate \"k8s_condition\" \"web_available\" {{\n  api_version = \"apps/v1\"\n  kind = \"Deployment\"\n  namespace = \"{ns}\"\n  name = \"web\"\n  condition = \"Available\"\n  interval = \"200ms\"\n  timeout = \"{timeout}\"\n}}\n", provider())
    };
    // No kubelet: the pod never gets ready, the Deployment is not Available.
    let (code, out, _) = Project::new()
        .file("main.hcl", &spec("2s"))
        .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED   gate.web_available: did not hold within 2s; last measured: Available = False (want True)"),
        "{out}"
    );
    let _kubelet = Kubelet::start(&ns);
    let (code, out, err) = Project::new()
        .file("main.hcl", &spec("60s"))
        .run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("held: Available = True (want True)"), "{out}");
}

/// Removes the service-account files it wrote, when dropped.
struct PodIdentity(std::path::PathBuf);

impl Drop for PodIdentity {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn in_a_pod_the_service_account_and_its_namespace_are_used() {
    // What a pod has: KUBERNETES_SERVICE_HOST/PORT, and the token, the
    // cluster's CA and the namespace under /var/run/secrets. Written here for
    // the cluster scripts/kubernetes.sh starts (its token and certificates),
    // only when that directory does not exist, and removed afterwards.
    let Ok(dir) = std::env::var("CUTOVER_K8S_DIR") else {
        eprintln!("skipped: needs the cluster started by scripts/kubernetes.sh (CUTOVER_K8S_DIR)");
        return;
    };
    let root = std::path::Path::new("/var/run/secrets");
    if root.exists() {
        eprintln!(
            "skipped: {} exists (a real pod?); not touching it",
            root.display()
        );
        return;
    }
    let ns = runtime().block_on(namespace());
    let sa = root.join("kubernetes.io/serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    let _cleanup = PodIdentity(root.to_path_buf());
    let certs = std::fs::read_to_string(format!("{dir}/certs/apiserver.crt")).unwrap();
    // The file holds the serving certificate, then the CA that signed it.
    let ca = &certs[certs.rfind("-----BEGIN CERTIFICATE-----").unwrap()..];
    std::fs::write(sa.join("ca.crt"), ca).unwrap();
    let tokens = std::fs::read_to_string(format!("{dir}/tokens.csv")).unwrap();
    std::fs::write(sa.join("token"), tokens.split(',').next().unwrap()).unwrap();
    std::fs::write(sa.join("namespace"), &ns).unwrap();
    let server = kube::config::Kubeconfig::read_from(kubeconfig())
        .unwrap()
        .clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone()
        .unwrap();
    let port = server.rsplit(':').next().unwrap().to_string();

    let p = Project::new().file(
        "main.hcl",
        "resource \"kubernetes_config_map\" \"probe\" {\n  name = \"in-cluster\"\n  data = { seen = \"yes\" }\n}\n",
    );
    let home = p.dir.to_str().unwrap().to_string();
    let env = [
        ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", port.as_str()),
        ("KUBECONFIG", ""),
        ("HOME", home.as_str()),
    ];
    let (code, out, err) = p.run_env(&env, &["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let cm = get::<ConfigMap>(&ns, "in-cluster").expect("created in the pod's namespace");
    assert_eq!(cm.data.unwrap()["seen"], "yes");
    let (code, out, err) = p.run_env(&env, &["rollback", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(get::<ConfigMap>(&ns, "in-cluster").is_none());
}

#[test]
fn an_approval_reaches_an_apply_through_the_kubernetes_backend() {
    // `cutover approve` appends to the journal in the state ConfigMap while
    // the apply holds the Lease; the apply waiting at the gate sees it.
    let ns = runtime().block_on(namespace());
    let spec = format!(
        "migration \"approved\" {{\n  state \"kubernetes\" {{\n    namespace = \"{ns}\"\n    config_path = \"{}\"\n  }}\n}}\ngate \"approval\" \"go\" {{\n  interval = \"100ms\"\n  timeout = \"60s\"\n}}\nstep \"exec\" \"after\" {{\n  shell = \"echo go > after.txt\"\n  depends_on = [gate.go]\n}}\n",
        kubeconfig()
    );
    let p = Project::new().file("main.hcl", &spec);
    let child = p.spawn(&["apply", "-auto-approve"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (code, out, err) = p.run(&["approve", "gate.go"]);
        if code == 0 {
            assert!(out.contains("Approved gate.go as "), "{out}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{err}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let done = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&done.stdout);
    assert_eq!(done.status.code(), Some(0), "{out}");
    assert!(out.contains("held: approved by "), "{out}");
    assert_eq!(p.read("after.txt"), "go\n");
}
