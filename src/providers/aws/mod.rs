//! The `aws` provider: ALB listener weights, ECS services, SSM parameters,
//! Application Auto Scaling policies, CloudWatch alarms; the `cloudwatch` and
//! `aws_ecs_steady` gates; data sources for secrets, services and listeners.
//!
//! Configured through the standard chain and the `provider "aws"` block
//! ([`config`]); every service client shares that configuration, including
//! an `endpoint` override for moto, LocalStack or VPC endpoints.

mod autoscaling;
mod cloudwatch;
pub mod config;
mod ecs;
mod elb;
mod ssm;

use super::schema::{AttrSchema, AttrType, TypeSchema};
use super::{Attrs, CheckOutcome, Provider, ProviderError};
use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use aws_config::SdkConfig;
use serde_json::{json, Value};

pub struct AwsProvider {
    settings: Attrs,
    sdk: tokio::sync::OnceCell<SdkConfig>,
}

impl AwsProvider {
    pub fn new(settings: Attrs) -> AwsProvider {
        AwsProvider {
            settings,
            sdk: tokio::sync::OnceCell::new(),
        }
    }

    async fn sdk(&self) -> Result<&SdkConfig, ProviderError> {
        self.sdk
            .get_or_try_init(|| config::load(&self.settings))
            .await
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn config_schema(&self) -> Vec<AttrSchema> {
        use AttrType::*;
        vec![
            AttrSchema::new("region", String),
            AttrSchema::new("profile", String),
            AttrSchema::new("endpoint", String),
        ]
    }

    fn schemas(&self) -> Vec<TypeSchema> {
        use AttrType::*;
        let ecs_ids = || {
            vec![
                AttrSchema::new("cluster", String).identity(),
                AttrSchema::new("service", String).identity(),
            ]
        };
        vec![
            TypeSchema::new(
                NodeKind::Resource,
                "aws_lb_listener_weights",
                vec![
                    AttrSchema::new("listener_arn", String).identity(),
                    AttrSchema::new("weights", Any).required(),
                    AttrSchema::new("stickiness", Number),
                ],
                vec![],
            ),
            TypeSchema::new(
                NodeKind::Resource,
                "aws_ecs_service",
                {
                    let mut a = ecs_ids();
                    a.extend([
                        AttrSchema::new("desired_count", Number),
                        AttrSchema::new("task_definition", String),
                        AttrSchema::new("wait_for_steady_state", Bool),
                    ]);
                    a
                },
                vec![],
            ),
            TypeSchema::new(
                NodeKind::Resource,
                "aws_ssm_parameter",
                vec![
                    AttrSchema::new("name", String).identity(),
                    AttrSchema::new("value", String)
                        .required()
                        .sensitive_when("type", "SecureString"),
                    AttrSchema::new("type", String),
                ],
                vec![],
            ),
            TypeSchema::new(
                NodeKind::Resource,
                "aws_appautoscaling_policy",
                vec![
                    AttrSchema::new("policy_name", String).identity(),
                    AttrSchema::new("resource_id", String).identity(),
                    AttrSchema::new("service_namespace", String),
                    AttrSchema::new("scalable_dimension", String),
                    AttrSchema::new("min_capacity", Number),
                    AttrSchema::new("max_capacity", Number),
                    AttrSchema::new("target_value", Number),
                    AttrSchema::new("predefined_metric", String),
                    AttrSchema::new("scale_in_cooldown", Number),
                    AttrSchema::new("scale_out_cooldown", Number),
                ],
                vec![],
            ),
            TypeSchema::new(
                NodeKind::Resource,
                "aws_cloudwatch_metric_alarm",
                vec![
                    AttrSchema::new("alarm_name", String).identity(),
                    AttrSchema::new("namespace", String).required(),
                    AttrSchema::new("metric_name", String).required(),
                    AttrSchema::new("statistic", String),
                    AttrSchema::new("period", Number),
                    AttrSchema::new("evaluation_periods", Number),
                    AttrSchema::new("threshold", Number).required(),
                    AttrSchema::new("comparison_operator", String),
                    AttrSchema::new("dimensions", StringMap),
                    AttrSchema::new("alarm_actions", StringList),
                    AttrSchema::new("treat_missing_data", String),
                ],
                vec![],
            ),
            TypeSchema::new(
                NodeKind::Gate,
                "cloudwatch",
                vec![
                    AttrSchema::new("namespace", String).required(),
                    AttrSchema::new("metric", String).required(),
                    AttrSchema::new("dimensions", StringMap),
                    AttrSchema::new("statistic", String),
                    AttrSchema::new("period", Duration),
                    AttrSchema::new("lookback", Duration),
                    AttrSchema::new("below", Number),
                    AttrSchema::new("above", Number),
                    AttrSchema::new("no_data", String),
                ],
                vec![],
            ),
            TypeSchema::new(NodeKind::Gate, "aws_ecs_steady", ecs_ids(), vec![]),
            TypeSchema {
                sensitive_outputs: vec!["secret_string"],
                ..TypeSchema::new(
                    NodeKind::Data,
                    "aws_secretsmanager_secret_value",
                    vec![AttrSchema::new("secret_id", String).identity()],
                    vec!["secret_string"],
                )
            },
            TypeSchema::new(
                NodeKind::Data,
                "aws_ecs_service",
                ecs_ids(),
                vec!["desired_count", "running_count", "task_definition"],
            ),
            TypeSchema::new(
                NodeKind::Data,
                "aws_lb_listener",
                vec![AttrSchema::new("listener_arn", String).identity()],
                vec!["weights", "stickiness", "port", "protocol"],
            ),
        ]
    }

    async fn read(
        &self,
        kind: NodeKind,
        type_name: &str,
        attrs: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        let sdk = self.sdk().await?;
        match type_name {
            "aws_lb_listener_weights" | "aws_lb_listener" => {
                elb::read(&aws_sdk_elasticloadbalancingv2::Client::new(sdk), attrs).await
            }
            "aws_ecs_service" => ecs::read(&aws_sdk_ecs::Client::new(sdk), attrs).await,
            "aws_ssm_parameter" => ssm::read(&aws_sdk_ssm::Client::new(sdk), attrs).await,
            "aws_appautoscaling_policy" => {
                autoscaling::read(&aws_sdk_applicationautoscaling::Client::new(sdk), attrs).await
            }
            "aws_cloudwatch_metric_alarm" => {
                cloudwatch::read_alarm(&aws_sdk_cloudwatch::Client::new(sdk), attrs).await
            }
            "aws_secretsmanager_secret_value" if kind == NodeKind::Data => {
                let id = attrs
                    .get("secret_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let out = aws_sdk_secretsmanager::Client::new(sdk)
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| config::aws_error(&format!("reading secret {id}"), e))?;
                let mut a = Attrs::new();
                a.insert("secret_id".into(), json!(id));
                a.insert("secret_string".into(), json!(out.secret_string()));
                Ok(Some(a))
            }
            other => Err(ProviderError::unsupported("aws", "read of", other)),
        }
    }

    async fn apply(
        &self,
        type_name: &str,
        desired: Option<&Attrs>,
        identity: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        let sdk = self.sdk().await?;
        match (type_name, desired) {
            ("aws_lb_listener_weights", Some(d)) => elb::apply(&aws_sdk_elasticloadbalancingv2::Client::new(sdk), d).await,
            ("aws_ecs_service", Some(d)) => ecs::apply(&aws_sdk_ecs::Client::new(sdk), d).await,
            ("aws_lb_listener_weights" | "aws_ecs_service", None) => Err(ProviderError::failed(format!(
                "{type_name}: cutover changes existing listeners and services but does not create or delete them"
            ))),
            ("aws_ssm_parameter", _) => ssm::apply(&aws_sdk_ssm::Client::new(sdk), desired, identity).await,
            ("aws_appautoscaling_policy", _) => autoscaling::apply(&aws_sdk_applicationautoscaling::Client::new(sdk), desired, identity).await,
            ("aws_cloudwatch_metric_alarm", _) => cloudwatch::apply_alarm(&aws_sdk_cloudwatch::Client::new(sdk), desired, identity).await,
            (other, _) => Err(ProviderError::unsupported("aws", "resource", other)),
        }
    }

    async fn check(&self, type_name: &str, attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        let sdk = self.sdk().await?;
        match type_name {
            "cloudwatch" => cloudwatch::check(&aws_sdk_cloudwatch::Client::new(sdk), attrs).await,
            "aws_ecs_steady" => ecs::steady(&aws_sdk_ecs::Client::new(sdk), attrs).await,
            other => Err(ProviderError::unsupported("aws", "gate", other)),
        }
    }
}
