# RaptorFlow V1 → unified backend cutover (seed runbook 000): scale the
# unified service up, turn its feature flag on, shift the ALB listener's
# weights 90/10 → 50/50 → 0/100 with CloudWatch gates on 5XX errors and
# response time between stages, then scale V1 down; the autoscaling policy
# and the 5XX alarm of the runbook come with it. A failed gate rolls back:
# weights back to 100/0 (the immediate rollback), desired counts back to what
# they were (the full rollback: unified to 0, V1 to 5).

migration "raptorflow-unified-cutover" {
  description = "Move traffic from the V1 backend to the unified backend"
  on_failure  = "rollback"
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "aws_endpoint" {
  type        = string
  default     = ""
  description = "Endpoint override (moto, LocalStack, a VPC endpoint); empty: AWS itself."
}

variable "listener_arn" {
  type = string
}

variable "load_balancer" {
  type        = string
  description = "The ALB's CloudWatch dimension (app/NAME/ID)."
}

variable "v1_target_group" {
  type = string
}

variable "unified_target_group" {
  type = string
}

variable "cluster" {
  type    = string
  default = "raptorflow"
}

variable "v1_service" {
  type    = string
  default = "raptorflow-v1"
}

variable "unified_service" {
  type    = string
  default = "raptorflow-unified"
}

variable "bake" {
  type        = string
  default     = "30m"
  description = "How long each stage must stay healthy."
}

variable "gate_interval" {
  type    = string
  default = "1m"
}

variable "gate_timeout" {
  type    = string
  default = "1h"
}

provider "aws" {
  region   = var.region
  endpoint = var.aws_endpoint
}

# Bring the unified backend to full size before it takes traffic.
resource "aws_ecs_service" "unified_scaled_up" {
  cluster       = var.cluster
  service       = var.unified_service
  desired_count = 5
}

gate "aws_ecs_steady" "unified_ready" {
  cluster    = var.cluster
  service    = var.unified_service
  interval   = "5s"
  timeout    = "15m"
  depends_on = [aws_ecs_service.unified_scaled_up]
}

resource "aws_ssm_parameter" "unified_backend_flag" {
  name       = "/raptorflow/unified_backend_enabled"
  value      = "true"
  depends_on = [gate.unified_ready]
}

module "traffic" {
  source            = "../../modules/alb-canary"
  listener_arn      = var.listener_arn
  from_target_group = var.v1_target_group
  to_target_group   = var.unified_target_group
  stages            = [10, 50, 100]
  dimensions        = { LoadBalancer = var.load_balancer }
  below             = 5
  bake              = var.bake
  interval          = var.gate_interval
  timeout           = var.gate_timeout
  depends_on        = [aws_ssm_parameter.unified_backend_flag]
}

# The runbook also watches response time between stages.
gate "cloudwatch" "response_time" {
  namespace  = "AWS/ApplicationELB"
  metric     = "TargetResponseTime"
  statistic  = "p95"
  dimensions = { LoadBalancer = var.load_balancer }
  below      = 5
  no_data    = "pass"
  interval   = var.gate_interval
  timeout    = var.gate_timeout
  depends_on = [module.traffic]
}

resource "aws_appautoscaling_policy" "unified_cpu" {
  policy_name        = "raptorflow-unified-cpu"
  resource_id        = "service/${var.cluster}/${var.unified_service}"
  min_capacity       = 2
  max_capacity       = 10
  target_value       = 70
  predefined_metric  = "ECSServiceAverageCPUUtilization"
  scale_in_cooldown  = 300
  scale_out_cooldown = 60
  depends_on         = [gate.response_time]
}

resource "aws_cloudwatch_metric_alarm" "unified_5xx" {
  alarm_name          = "raptorflow-unified-5xx"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 10
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { LoadBalancer = var.load_balancer }
  depends_on          = [gate.response_time]
}

resource "aws_ecs_service" "v1_scaled_down" {
  cluster       = var.cluster
  service       = var.v1_service
  desired_count = 0
  depends_on    = [aws_appautoscaling_policy.unified_cpu, aws_cloudwatch_metric_alarm.unified_5xx]
}
