# RaptorFlow unified system go-live (seed runbook 001, the deployment
# summary): every service brought to the minimum of the scaling table with
# CPU target tracking up to its maximum, the monitoring thresholds turned
# into alarms and gates (CPU > 80 %, memory > 85 % per service; p95 response
# time > 5 s, 5XX errors, storage < 2 GB free), then traffic shifted
# 10 % → 50 % → 100 % to the unified orchestrator with a health gate after
# each stage. A failed gate rolls back: weights to 100/0, desired counts as
# they were, the policies and alarms removed (the runbook's "< 5 minute
# failure recovery").

migration "raptorflow-go-live" {
  description = "Scale the unified RaptorFlow services to the table, arm the alerts, shift traffic"
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

variable "cluster" {
  type    = string
  default = "raptorflow"
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

variable "database" {
  type        = string
  default     = "raptorflow"
  description = "The RDS instance whose free storage is watched."
}

variable "bake" {
  type        = string
  default     = "15m"
  description = "How long each gate's metric must stay within its threshold."
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

# The service scaling table: min, max (CPU and memory are the task
# definitions'). One module instance per service.
locals {
  services = {
    orchestrator = { name = "orchestrator", min = 2, max = 20 }
    v1_agents    = { name = "v1-agents", min = 1, max = 10 }
    v2_agents    = { name = "v2-agents", min = 3, max = 50 }
    api_gateway  = { name = "api-gateway", min = 2, max = 15 }
  }
}

module "service" {
  source   = "../../modules/ecs-scaled-service"
  for_each = local.services
  cluster  = var.cluster
  service  = each.value.name
  min      = each.value.min
  max      = each.value.max
  bake     = var.bake
  interval = var.gate_interval
  timeout  = var.gate_timeout
}

# The monitoring thresholds that are not per service.
resource "aws_cloudwatch_metric_alarm" "response_time" {
  alarm_name          = "${var.cluster}-response-time"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { LoadBalancer = var.load_balancer }
}

resource "aws_cloudwatch_metric_alarm" "storage" {
  alarm_name          = "${var.cluster}-db-storage"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 2147483648
  comparison_operator = "LessThanThreshold"
  dimensions          = { DBInstanceIdentifier = var.database }
}

gate "cloudwatch" "storage_free" {
  namespace  = "AWS/RDS"
  metric     = "FreeStorageSpace"
  statistic  = "Minimum"
  dimensions = { DBInstanceIdentifier = var.database }
  above      = 2147483648
  interval   = var.gate_interval
  timeout    = var.gate_timeout
}

# Traffic shifting 10 % → 50 % → 100 %, once every service is at size and healthy.
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
  depends_on        = [module.service, gate.storage_free, aws_cloudwatch_metric_alarm.response_time, aws_cloudwatch_metric_alarm.storage]
}

gate "cloudwatch" "response_time" {
  namespace  = "AWS/ApplicationELB"
  metric     = "TargetResponseTime"
  statistic  = "p95"
  dimensions = { LoadBalancer = var.load_balancer }
  below      = 5
  no_data    = "pass"
  for        = var.bake
  interval   = var.gate_interval
  timeout    = var.gate_timeout
  depends_on = [module.traffic]
}

output "capacity" {
  value = { for key, svc in module.service : key => svc.capacity }
}
