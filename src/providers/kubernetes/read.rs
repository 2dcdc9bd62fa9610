//! Reading objects: one by one (a GET each), or many of one kind at once (a
//! LIST per namespace), and what of an object cutover compares — only the
//! keys, containers and variables the spec names.

use super::{failed, strings};
use crate::providers::{Attrs, ProviderError};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The types whose objects can be listed.
pub const LISTABLE: [&str; 3] = [
    "kubernetes_config_map",
    "kubernetes_secret",
    "kubernetes_deployment",
];

/// From this many objects of one kind in one namespace on, they are listed.
const LIST_FROM: usize = 3;

/// A page of a list: the API server's default limit is none; pages keep
/// each response bounded.
const PAGE: u32 = 500;

/// An object as the API server returned it.
pub enum Object {
    ConfigMap(ConfigMap),
    Secret(Secret),
    Deployment(Box<Deployment>),
}

/// One object, or `None` when it does not exist.
pub async fn fetch(
    client: kube::Client,
    type_name: &str,
    ns: &str,
    n: &str,
) -> Result<Option<Object>, ProviderError> {
    Ok(match type_name {
        "kubernetes_config_map" => Api::<ConfigMap>::namespaced(client, ns)
            .get_opt(n)
            .await
            .map_err(|e| failed(&format!("reading ConfigMap {ns}/{n}"), e))?
            .map(Object::ConfigMap),
        "kubernetes_secret" => Api::<Secret>::namespaced(client, ns)
            .get_opt(n)
            .await
            .map_err(|e| failed(&format!("reading Secret {ns}/{n}"), e))?
            .map(Object::Secret),
        "kubernetes_deployment" => Api::<Deployment>::namespaced(client, ns)
            .get_opt(n)
            .await
            .map_err(|e| failed(&format!("reading Deployment {ns}/{n}"), e))?
            .map(|d| Object::Deployment(Box::new(d))),
        other => return Err(ProviderError::unsupported("kubernetes", "read of", other)),
    })
}

/// Every object of a kind in a namespace, by name, page by page.
async fn list(
    client: kube::Client,
    type_name: &str,
    ns: &str,
) -> Result<HashMap<String, Object>, ProviderError> {
    async fn all<K>(api: Api<K>, what: &str, ns: &str) -> Result<Vec<K>, ProviderError>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let mut out = Vec::new();
        let mut params = ListParams::default().limit(PAGE);
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| failed(&format!("listing {what}s in {ns}"), e))?;
            out.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(out),
            }
        }
    }
    let named = |name: Option<String>, o: Object| name.map(|n| (n, o));
    Ok(match type_name {
        "kubernetes_config_map" => all(Api::<ConfigMap>::namespaced(client, ns), "ConfigMap", ns)
            .await?
            .into_iter()
            .filter_map(|o| named(o.metadata.name.clone(), Object::ConfigMap(o)))
            .collect(),
        "kubernetes_secret" => all(Api::<Secret>::namespaced(client, ns), "Secret", ns)
            .await?
            .into_iter()
            .filter_map(|o| named(o.metadata.name.clone(), Object::Secret(o)))
            .collect(),
        "kubernetes_deployment" => all(Api::<Deployment>::namespaced(client, ns), "Deployment", ns)
            .await?
            .into_iter()
            .filter_map(|o| named(o.metadata.name.clone(), Object::Deployment(Box::new(o))))
            .collect(),
        other => return Err(ProviderError::unsupported("kubernetes", "read of", other)),
    })
}

/// Reads `items` (each with its namespace and name) in namespaces that hold
/// several of them with one list each; `None` for the others, which the
/// caller reads one by one (concurrently, as it reads everything else).
pub async fn many(
    client: kube::Client,
    type_name: &str,
    items: &[Attrs],
    at: Vec<(String, Option<String>)>,
) -> Vec<Option<Result<Option<Attrs>, ProviderError>>> {
    let mut per_ns: HashMap<&str, usize> = HashMap::new();
    for (ns, _) in &at {
        *per_ns.entry(ns.as_str()).or_default() += 1;
    }
    let mut listed: HashMap<&str, Result<HashMap<String, Object>, String>> = HashMap::new();
    for (ns, count) in &per_ns {
        if *count >= LIST_FROM {
            let objects = list(client.clone(), type_name, ns).await;
            listed.insert(ns, objects.map_err(|e| e.to_string()));
        }
    }
    items
        .iter()
        .zip(&at)
        .map(|(attrs, (ns, n))| {
            let n = n.as_deref()?;
            Some(match listed.get_mut(ns.as_str())? {
                Ok(objects) => Ok(objects.remove(n).map(|o| observe(attrs, ns, n, o))),
                Err(e) => Err(ProviderError::failed(e.clone())),
            })
        })
        .collect()
}

/// What of `object` cutover compares with the spec's `attrs`.
pub fn observe(attrs: &Attrs, ns: &str, n: &str, object: Object) -> Attrs {
    let mut out = Attrs::new();
    out.insert("namespace".into(), json!(ns));
    out.insert("name".into(), json!(n));
    let keep = |want: Option<&Value>, have: serde_json::Map<String, Value>| {
        let keys = strings(want);
        have.into_iter()
            .filter(|(k, _)| keys.contains_key(k))
            .collect::<serde_json::Map<String, Value>>()
    };
    match object {
        // Only the keys the spec names are managed, and only they are compared.
        Object::ConfigMap(cm) => {
            let data = cm.data.unwrap_or_default();
            let data = data.into_iter().map(|(k, v)| (k, json!(v))).collect();
            out.insert("data".into(), Value::Object(keep(attrs.get("data"), data)));
        }
        Object::Secret(s) => {
            let data = s.data.unwrap_or_default().into_iter();
            let data = data
                .map(|(k, v)| (k, json!(String::from_utf8_lossy(&v.0))))
                .collect();
            out.insert("data".into(), Value::Object(keep(attrs.get("data"), data)));
        }
        Object::Deployment(d) => deployment(attrs, *d, &mut out),
    }
    out
}

fn deployment(attrs: &Attrs, d: Deployment, out: &mut Attrs) {
    let spec = d.spec.unwrap_or_default();
    out.insert("replicas".into(), json!(spec.replicas.unwrap_or(1)));
    let containers = spec.template.spec.map(|p| p.containers).unwrap_or_default();
    let wanted = strings(attrs.get("images"));
    let images: serde_json::Map<String, Value> = containers
        .iter()
        .filter(|c| wanted.contains_key(&c.name))
        .map(|c| (c.name.clone(), json!(c.image.clone().unwrap_or_default())))
        .collect();
    if attrs.contains_key("images") {
        out.insert("images".into(), Value::Object(images));
    }
    if let Some(Value::Object(want)) = attrs.get("env") {
        // Only the variables the spec names, container by container.
        let env = want
            .iter()
            .map(|(container, vars)| {
                let names = strings(Some(vars));
                let have: serde_json::Map<String, Value> = containers
                    .iter()
                    .filter(|c| &c.name == container)
                    .flat_map(|c| c.env.clone().unwrap_or_default())
                    .filter(|e| names.contains_key(&e.name))
                    .map(|e| (e.name, json!(e.value.unwrap_or_default())))
                    .collect();
                (container.clone(), Value::Object(have))
            })
            .collect();
        out.insert("env".into(), Value::Object(env));
    }
    if let Some(want) = attrs.get("annotations") {
        let have = d.metadata.annotations.unwrap_or_default();
        let keys = strings(Some(want));
        out.insert(
            "annotations".into(),
            Value::Object(
                have.into_iter()
                    .filter(|(k, _)| keys.contains_key(k))
                    .map(|(k, v)| (k, json!(v)))
                    .collect(),
            ),
        );
    }
}
