//! The `kubernetes` provider: Deployments, ConfigMaps and Secrets changed by
//! server-side apply with the field manager `cutover` (fields other managers
//! own are left alone; a ConfigMap's or Secret's keys are managed one by one),
//! and the `k8s_rollout` and `k8s_condition` gates.
//!
//! Configuration the way `kubectl` resolves it: `KUBECONFIG` or
//! `~/.kube/config`, the `context` and `config_path` of the provider block,
//! in-cluster config when running in a pod; rustls.

mod read;

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{Attrs, CheckOutcome, Provider, ProviderError};
use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{json, Value};

pub struct KubernetesProvider {
    settings: Attrs,
    client: tokio::sync::OnceCell<kube::Client>,
}

const MANAGER: &str = "cutover";

fn failed(what: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::failed(format!("{what}: {e}"))
}

impl KubernetesProvider {
    pub fn new(settings: Attrs) -> KubernetesProvider {
        KubernetesProvider {
            settings,
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// The client, connected on first use.
    pub async fn connect(&self) -> Result<&kube::Client, ProviderError> {
        self.client().await
    }

    async fn client(&self) -> Result<&kube::Client, ProviderError> {
        self.client
            .get_or_try_init(|| async {
                let s = |k: &str| {
                    self.settings
                        .get(k)
                        .and_then(Value::as_str)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                };
                let config = match (s("config_path"), s("context")) {
                    (None, None) => kube::Config::infer()
                        .await
                        .map_err(|e| failed("loading the Kubernetes configuration", e))?,
                    (path, context) => {
                        let kc = match path {
                            Some(p) => kube::config::Kubeconfig::read_from(&p)
                                .map_err(|e| failed(&format!("reading kubeconfig {p}"), e))?,
                            None => kube::config::Kubeconfig::read()
                                .map_err(|e| failed("reading the kubeconfig", e))?,
                        };
                        let opts = kube::config::KubeConfigOptions {
                            context,
                            ..Default::default()
                        };
                        kube::Config::from_custom_kubeconfig(kc, &opts)
                            .await
                            .map_err(|e| failed("loading the kubeconfig", e))?
                    }
                };
                kube::Client::try_from(config).map_err(|e| failed("connecting to Kubernetes", e))
            })
            .await
    }

    /// The block's namespace, else the provider block's, else the kubeconfig
    /// context's (or the pod's, in a cluster), as kubectl chooses it.
    fn namespace(&self, attrs: &Attrs) -> String {
        let given = |a: &Attrs| {
            a.get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        given(attrs)
            .or_else(|| given(&self.settings))
            .or_else(|| self.client.get().map(|c| c.default_namespace().to_string()))
            .unwrap_or_else(|| "default".into())
    }
}

fn name(attrs: &Attrs) -> Result<&str, ProviderError> {
    attrs
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::failed("`name` must be a string"))
}

fn strings(v: Option<&Value>) -> serde_json::Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(|s| json!(s))
                        .unwrap_or_else(|| json!(v.to_string())),
                )
            })
            .collect(),
        _ => serde_json::Map::new(),
    }
}

/// The server-side apply body of a ConfigMap or Secret: only the keys the
/// spec names, so that the other keys keep their owners.
fn data_body(kind: &str, ns: &str, n: &str, d: &Attrs) -> Value {
    let field = if kind == "Secret" {
        "stringData"
    } else {
        "data"
    };
    json!({ "apiVersion": "v1", "kind": kind, "metadata": { "name": n, "namespace": ns }, field: strings(d.get("data")) })
}

/// The server-side apply body of a Deployment: the replicas, and the
/// containers named in `images` or `env` (merged by name with the others),
/// each with only the variables the spec names.
fn deployment_body(ns: &str, n: &str, d: &Attrs) -> Value {
    let mut spec = serde_json::Map::new();
    if let Some(r) = d.get("replicas") {
        spec.insert("replicas".into(), r.clone());
    }
    let images = strings(d.get("images"));
    let env = d
        .get("env")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut names: Vec<&String> = images.keys().chain(env.keys()).collect();
    names.sort();
    names.dedup();
    if !names.is_empty() {
        let containers: Vec<Value> = names
            .iter()
            .map(|c| {
                let mut o = json!({ "name": c });
                if let Some(i) = images.get(*c) {
                    o["image"] = i.clone();
                }
                if let Some(vars) = env.get(*c) {
                    o["env"] = Value::Array(
                        strings(Some(vars))
                            .into_iter()
                            .map(|(k, v)| json!({ "name": k, "value": v }))
                            .collect(),
                    );
                }
                o
            })
            .collect();
        spec.insert(
            "template".into(),
            json!({ "spec": { "containers": containers } }),
        );
    }
    let mut metadata = json!({ "name": n, "namespace": ns });
    if d.contains_key("annotations") {
        metadata["annotations"] = Value::Object(strings(d.get("annotations")));
    }
    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec })
}

fn ssa() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

fn schema(kind: NodeKind, type_name: &'static str, attrs: Vec<AttrSchema>) -> TypeSchema {
    TypeSchema::new(kind, type_name, attrs, vec![])
}

#[async_trait]
impl Provider for KubernetesProvider {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn config_schema(&self) -> Vec<AttrSchema> {
        use AttrType::*;
        vec![
            AttrSchema::new("config_path", String),
            AttrSchema::new("context", String),
            AttrSchema::new("namespace", String),
        ]
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        use AttrType::*;
        let ids = || {
            vec![
                AttrSchema::new("namespace", String).identity().optional(),
                AttrSchema::new("name", String).identity(),
            ]
        };
        let with = |mut a: Vec<AttrSchema>, more: Vec<AttrSchema>| {
            a.extend(more);
            a
        };
        vec![
            schema(
                NodeKind::Resource,
                "kubernetes_deployment",
                with(
                    ids(),
                    vec![
                        AttrSchema::new("replicas", Number),
                        AttrSchema::new("images", StringMap),
                        AttrSchema::new("env", Any),
                        AttrSchema::new("annotations", StringMap),
                    ],
                ),
            ),
            schema(
                NodeKind::Resource,
                "kubernetes_config_map",
                with(ids(), vec![AttrSchema::new("data", StringMap).required()]),
            ),
            schema(
                NodeKind::Resource,
                "kubernetes_secret",
                with(
                    ids(),
                    vec![AttrSchema::new("data", StringMap).required().sensitive()],
                ),
            ),
            schema(NodeKind::Gate, "k8s_rollout", ids()),
            schema(
                NodeKind::Gate,
                "k8s_condition",
                with(
                    ids(),
                    vec![
                        AttrSchema::new("api_version", String).required(),
                        AttrSchema::new("kind", String).required(),
                        AttrSchema::new("condition", String).required(),
                        AttrSchema::new("status", String),
                    ],
                ),
            ),
        ]
    }

    async fn read(
        &self,
        _: NodeKind,
        type_name: &str,
        attrs: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        let client = self.client().await?.clone();
        let (ns, n) = (self.namespace(attrs), name(attrs)?.to_string());
        let object = read::fetch(client, type_name, &ns, &n).await?;
        Ok(object.map(|o| read::observe(attrs, &ns, &n, o)))
    }

    fn reads_many(&self, _: &str) -> bool {
        true
    }

    /// Many objects of one kind: one list per namespace where several are
    /// read there, instead of a request each; the others are left to `read`.
    async fn read_many(
        &self,
        _: NodeKind,
        type_name: &str,
        items: &[Attrs],
    ) -> Vec<Option<Result<Option<Attrs>, ProviderError>>> {
        let client = match self.client().await {
            Ok(c) if read::LISTABLE.contains(&type_name) => c.clone(),
            _ => return items.iter().map(|_| None).collect(),
        };
        let namespaced: Vec<(String, Option<String>)> = items
            .iter()
            .map(|a| (self.namespace(a), name(a).ok().map(str::to_string)))
            .collect();
        read::many(client, type_name, items, namespaced).await
    }

    async fn apply(
        &self,
        type_name: &str,
        desired: Option<&Attrs>,
        identity: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        let client = self.client().await?.clone();
        let (ns, n) = (self.namespace(identity), name(identity)?.to_string());
        let read_back = |d: &Attrs| {
            let mut a = d.clone();
            a.insert("namespace".into(), json!(ns));
            a
        };
        match (type_name, desired) {
            ("kubernetes_config_map" | "kubernetes_secret", None) => {
                let r = if type_name == "kubernetes_config_map" {
                    Api::<ConfigMap>::namespaced(client, &ns).delete(&n, &DeleteParams::default()).await.map(|_| ())
                } else {
                    Api::<Secret>::namespaced(client, &ns).delete(&n, &DeleteParams::default()).await.map(|_| ())
                };
                match r {
                    Ok(()) => Ok(None),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                    Err(e) => Err(failed(&format!("deleting {ns}/{n}"), e)),
                }
            }
            ("kubernetes_config_map", Some(d)) => {
                let body = data_body("ConfigMap", &ns, &n, d);
                Api::<ConfigMap>::namespaced(client, &ns).patch(&n, &ssa(), &Patch::Apply(&body)).await.map_err(|e| failed(&format!("applying ConfigMap {ns}/{n}"), e))?;
                self.read(NodeKind::Resource, type_name, &read_back(d)).await
            }
            ("kubernetes_secret", Some(d)) => {
                let body = data_body("Secret", &ns, &n, d);
                Api::<Secret>::namespaced(client, &ns).patch(&n, &ssa(), &Patch::Apply(&body)).await.map_err(|e| failed(&format!("applying Secret {ns}/{n}"), e))?;
                self.read(NodeKind::Resource, type_name, &read_back(d)).await
            }
            ("kubernetes_deployment", Some(d)) => {
                let body = deployment_body(&ns, &n, d);
                Api::<Deployment>::namespaced(client, &ns).patch(&n, &ssa(), &Patch::Apply(&body)).await.map_err(|e| failed(&format!("applying Deployment {ns}/{n}"), e))?;
                self.read(NodeKind::Resource, type_name, &read_back(d)).await
            }
            ("kubernetes_deployment", None) => Err(ProviderError::failed("kubernetes_deployment: cutover changes existing Deployments; it does not create or delete them")),
            (other, _) => Err(ProviderError::unsupported("kubernetes", "resource", other)),
        }
    }

    async fn check(&self, type_name: &str, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        let client = self.client().await?.clone();
        let (ns, n) = (self.namespace(attrs), name(attrs)?.to_string());
        match type_name {
            "k8s_rollout" => {
                let Some(d) = Api::<Deployment>::namespaced(client, &ns)
                    .get_opt(&n)
                    .await
                    .map_err(|e| failed(&format!("reading Deployment {ns}/{n}"), e))?
                else {
                    return Ok(CheckOutcome {
                        value: None,
                        limits: Vec::new(),
                        holds: false,
                        measured: format!("Deployment {ns}/{n} not found"),
                    });
                };
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let st = d.status.unwrap_or_default();
                let generation = d.metadata.generation.unwrap_or(0);
                let observed = st.observed_generation.unwrap_or(0);
                let (updated, available, ready) = (
                    st.updated_replicas.unwrap_or(0),
                    st.available_replicas.unwrap_or(0),
                    st.ready_replicas.unwrap_or(0),
                );
                let holds = observed >= generation
                    && updated == want
                    && available == want
                    && ready == want
                    && st.replicas.unwrap_or(0) == want;
                Ok(CheckOutcome { value: None, limits: Vec::new(),
                    holds,
                    measured: format!("{updated} updated, {available} available, {ready} ready of {want}; generation {observed}/{generation}"),
                })
            }
            "k8s_condition" => {
                let s = |k: &str| {
                    attrs
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let (group, version) = match s("api_version").split_once('/') {
                    Some((g, v)) => (g.to_string(), v.to_string()),
                    None => (String::new(), s("api_version")),
                };
                let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &s("kind"));
                let (ar, _) = kube::discovery::pinned_kind(&client, &gvk)
                    .await
                    .map_err(|e| failed(&format!("finding {}", s("kind")), e))?;
                let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client, &ns, &ar);
                let obj = api
                    .get(&n)
                    .await
                    .map_err(|e| failed(&format!("reading {} {ns}/{n}", s("kind")), e))?;
                let want = attrs
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("True");
                let found = obj.data["status"]["conditions"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["type"] == s("condition")))
                    .and_then(|c| c["status"].as_str().map(str::to_string));
                Ok(CheckOutcome {
                    value: None,
                    limits: Vec::new(),
                    holds: found.as_deref() == Some(want),
                    measured: format!(
                        "{} = {} (want {want})",
                        s("condition"),
                        found.unwrap_or_else(|| "absent".into())
                    ),
                })
            }
            other => Err(ProviderError::unsupported("kubernetes", "gate", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Attrs {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_deployment_body_names_only_what_the_spec_sets() {
        let d = attrs(json!({
            "name": "api", "replicas": 3,
            "images": { "api": "api:2" },
            "env": { "api": { "MODE": "v2", "WORKERS": 4 }, "sidecar": {} }
        }));
        assert_eq!(
            deployment_body("prod", "api", &d),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": "api", "namespace": "prod" },
                "spec": { "replicas": 3, "template": { "spec": { "containers": [
                    { "name": "api", "image": "api:2", "env": [
                        { "name": "MODE", "value": "v2" }, { "name": "WORKERS", "value": "4" }
                    ] },
                    { "name": "sidecar", "env": [] }
                ] } } }
            })
        );
        // Only replicas: no template at all, so no container is claimed.
        let body = deployment_body("prod", "api", &attrs(json!({ "replicas": 0 })));
        assert_eq!(body["spec"], json!({ "replicas": 0 }));
        assert!(body["metadata"].get("annotations").is_none());
    }

    #[test]
    fn config_map_and_secret_bodies_carry_only_the_named_keys() {
        let d = attrs(json!({ "data": { "pct": 10, "on": "true" } }));
        assert_eq!(
            data_body("ConfigMap", "ns", "flags", &d),
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "flags", "namespace": "ns" }, "data": { "pct": "10", "on": "true" } })
        );
        assert_eq!(
            data_body("Secret", "ns", "db", &d)["stringData"],
            json!({ "pct": "10", "on": "true" })
        );
    }
}
