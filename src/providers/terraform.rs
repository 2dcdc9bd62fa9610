//! The `terraform` provider: `data "terraform_outputs"` reads the root
//! outputs of a Terraform (or OpenTofu) state — a local state file, the JSON
//! of `terraform output -json`, or a state object in S3 read through the aws
//! provider's configuration — so that the ARNs and names a migration needs
//! come from Terraform without copying.
//!
//! Outputs Terraform marks sensitive are kept apart, in `sensitive_values`,
//! which is sensitive wherever it flows; the rest are in `values`.

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{Attrs, Provider, ProviderError};
use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use serde_json::{Map, Value};

/// The state format this reads: Terraform ≥ 0.12 and OpenTofu write version 4.
const STATE_VERSION: u64 = 4;

pub struct TerraformProvider {
    /// The `provider "aws"` block's settings, for a state in S3.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    aws: Attrs,
}

impl TerraformProvider {
    pub fn new(aws: Attrs) -> TerraformProvider {
        TerraformProvider { aws }
    }

    #[cfg(feature = "aws")]
    async fn read_s3(&self, attrs: &Attrs) -> Result<(String, Vec<u8>), ProviderError> {
        use aws_sdk_s3 as s3;
        let get = |k: &str| {
            attrs
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(bucket), Some(key)) = (get("bucket"), get("key")) else {
            return Err(ProviderError::failed(
                "backend = \"s3\" needs bucket and key",
            ));
        };
        let mut settings = self.aws.clone();
        for k in ["region", "endpoint", "profile"] {
            if let Some(v) = get(k) {
                settings.insert(k.into(), Value::from(v));
            }
        }
        let conf = super::aws::config::load(&settings).await?;
        let client = s3::Client::from_conf(
            s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        let name = format!("s3://{bucket}/{key}");
        let object = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| super::aws::config::aws_error(&format!("reading {name}"), e))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| ProviderError::failed(format!("reading {name}: {e}")))?;
        Ok((name, bytes.into_bytes().to_vec()))
    }

    #[cfg(not(feature = "aws"))]
    async fn read_s3(&self, _: &Attrs) -> Result<(String, Vec<u8>), ProviderError> {
        Err(ProviderError::failed(
            "backend = \"s3\" needs the aws feature, which this build lacks",
        ))
    }
}

#[async_trait]
impl Provider for TerraformProvider {
    fn name(&self) -> &'static str {
        "terraform"
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        use AttrType::*;
        vec![TypeSchema {
            sensitive_outputs: vec!["sensitive_values"],
            ..TypeSchema::new(
                NodeKind::Data,
                "terraform_outputs",
                vec![
                    AttrSchema::new("backend", String),
                    AttrSchema::new("path", String),
                    AttrSchema::new("bucket", String),
                    AttrSchema::new("key", String),
                    AttrSchema::new("region", String),
                    AttrSchema::new("endpoint", String),
                    AttrSchema::new("profile", String),
                ],
                vec!["values", "sensitive_values", "terraform_version"],
            )
        }]
    }

    async fn read(
        &self,
        kind: NodeKind,
        type_name: &str,
        attrs: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        if kind != NodeKind::Data || type_name != "terraform_outputs" {
            return Err(ProviderError::unsupported(
                "terraform",
                "read of",
                type_name,
            ));
        }
        let backend = attrs
            .get("backend")
            .and_then(Value::as_str)
            .unwrap_or("local");
        let (name, bytes) = match backend {
            "local" => {
                let Some(path) = attrs.get("path").and_then(Value::as_str) else {
                    return Err(ProviderError::failed(
                        "terraform_outputs needs path (a state file or the JSON of `terraform output -json`), or backend = \"s3\" with bucket and key",
                    ));
                };
                let bytes = std::fs::read(path)
                    .map_err(|e| ProviderError::failed(format!("cannot read {path}: {e}")))?;
                (path.to_string(), bytes)
            }
            "s3" => self.read_s3(attrs).await?,
            other => {
                return Err(ProviderError::failed(format!(
                    "backend \"{other}\" is not supported: use \"local\" (with path) or \"s3\" (with bucket and key)"
                )))
            }
        };
        outputs(&bytes)
            .map(Some)
            .map_err(|why| ProviderError::failed(format!("{name}: {why}")))
    }
}

/// The outputs in a state (version 4) or in `terraform output -json`, split
/// into `values` and `sensitive_values`.
pub fn outputs(bytes: &[u8]) -> Result<Attrs, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not JSON ({e}); expected a Terraform state or the output of `terraform output -json`"
        )
    })?;
    let Value::Object(top) = doc else {
        return Err(
            "expected a JSON object: a Terraform state or the output of `terraform output -json`"
                .into(),
        );
    };
    let (outputs, version) = match top.get("version") {
        Some(v) => {
            let n = v.as_u64().unwrap_or(0);
            if n != STATE_VERSION {
                return Err(format!(
                    "state format version {v} is not supported; cutover reads version {STATE_VERSION}, written by Terraform 0.12 and later and by OpenTofu"
                ));
            }
            let outputs = match top.get("outputs") {
                Some(Value::Object(o)) => o.clone(),
                None | Some(Value::Null) => Map::new(),
                Some(_) => return Err("its \"outputs\" is not an object".into()),
            };
            (outputs, top.get("terraform_version").cloned())
        }
        None => (top, None),
    };
    let mut values = Map::new();
    let mut secret = Map::new();
    for (name, o) in outputs {
        let Some(value) = o.get("value") else {
            return Err(format!(
                "output \"{name}\" has no \"value\"; expected a Terraform state or the output of `terraform output -json`"
            ));
        };
        let sensitive = o.get("sensitive").and_then(Value::as_bool).unwrap_or(false);
        if sensitive {
            secret.insert(name, value.clone());
        } else {
            values.insert(name, value.clone());
        }
    }
    let mut out = Attrs::new();
    out.insert("values".into(), Value::Object(values));
    out.insert("sensitive_values".into(), Value::Object(secret));
    out.insert("terraform_version".into(), version.unwrap_or(Value::Null));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_and_output_json_give_the_same_outputs() {
        let state = br#"{"version":4,"terraform_version":"1.9.0","serial":1,"lineage":"x","outputs":{"arn":{"value":"arn:aws:x","type":"string"},"pw":{"value":"hunter2","type":"string","sensitive":true}},"resources":[]}"#;
        let out = outputs(state).unwrap();
        assert_eq!(out.get("values"), Some(&json!({"arn": "arn:aws:x"})));
        assert_eq!(out.get("sensitive_values"), Some(&json!({"pw": "hunter2"})));
        assert_eq!(out.get("terraform_version"), Some(&json!("1.9.0")));
        let cli = br#"{"arn":{"sensitive":false,"type":"string","value":"arn:aws:x"},"pw":{"sensitive":true,"type":"string","value":"hunter2"}}"#;
        let out = outputs(cli).unwrap();
        assert_eq!(out.get("values"), Some(&json!({"arn": "arn:aws:x"})));
        assert_eq!(out.get("sensitive_values"), Some(&json!({"pw": "hunter2"})));
    }

    #[test]
    fn other_state_versions_are_refused() {
        let e = outputs(br#"{"version":3,"modules":[]}"#).unwrap_err();
        assert!(
            e.starts_with("state format version 3 is not supported"),
            "{e}"
        );
        assert!(outputs(b"[1]").is_err());
        assert!(outputs(br#"{"a":{"type":"string"}}"#).is_err());
    }
}
