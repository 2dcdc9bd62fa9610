# One row of a service scaling table: an ECS service brought to its minimum
# and steady, CPU target tracking between its minimum and maximum, CPU and
# memory alarms, and gates that hold while CPU and memory stay under the
# alarm thresholds. Rolled back, the service gets its old desired count and
# the policy and alarms go.

variable "cluster" {
  type = string
}

variable "service" {
  type = string
}

variable "min" {
  type        = number
  description = "Minimum tasks: the desired count set now, and the autoscaling floor."
}

variable "max" {
  type        = number
  description = "Autoscaling ceiling."
}

variable "cpu_target" {
  type        = number
  default     = 70
  description = "Average CPU the target-tracking policy keeps the service at (%)."
}

variable "cpu_alarm" {
  type        = number
  default     = 80
  description = "CPU utilization that raises the alarm and fails the gate (%)."
}

variable "memory_alarm" {
  type        = number
  default     = 85
  description = "Memory utilization that raises the alarm and fails the gate (%)."
}

variable "bake" {
  type        = string
  default     = "10m"
  description = "How long CPU and memory must stay under the thresholds."
}

variable "interval" {
  type    = string
  default = "1m"
}

variable "timeout" {
  type    = string
  default = "30m"
}

locals {
  dimensions = { ClusterName = var.cluster, ServiceName = var.service }
}

resource "aws_ecs_service" "scaled" {
  cluster       = var.cluster
  service       = var.service
  desired_count = var.min
}

gate "aws_ecs_steady" "steady" {
  cluster    = var.cluster
  service    = var.service
  interval   = "5s"
  timeout    = "15m"
  depends_on = [aws_ecs_service.scaled]
}

resource "aws_appautoscaling_policy" "cpu" {
  policy_name        = "${var.service}-cpu"
  resource_id        = "service/${var.cluster}/${var.service}"
  min_capacity       = var.min
  max_capacity       = var.max
  target_value       = var.cpu_target
  predefined_metric  = "ECSServiceAverageCPUUtilization"
  scale_in_cooldown  = 300
  scale_out_cooldown = 60
  depends_on         = [gate.steady]
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  alarm_name          = "${var.cluster}-${var.service}-cpu-high"
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.cpu_alarm
  comparison_operator = "GreaterThanThreshold"
  dimensions          = local.dimensions
  depends_on          = [gate.steady]
}

resource "aws_cloudwatch_metric_alarm" "memory_high" {
  alarm_name          = "${var.cluster}-${var.service}-memory-high"
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.memory_alarm
  comparison_operator = "GreaterThanThreshold"
  dimensions          = local.dimensions
  depends_on          = [gate.steady]
}

gate "cloudwatch" "cpu_ok" {
  namespace  = "AWS/ECS"
  metric     = "CPUUtilization"
  statistic  = "Average"
  dimensions = local.dimensions
  below      = var.cpu_alarm
  for        = var.bake
  interval   = var.interval
  timeout    = var.timeout
  depends_on = [gate.steady]
}

gate "cloudwatch" "memory_ok" {
  namespace  = "AWS/ECS"
  metric     = "MemoryUtilization"
  statistic  = "Average"
  dimensions = local.dimensions
  below      = var.memory_alarm
  for        = var.bake
  interval   = var.interval
  timeout    = var.timeout
  depends_on = [gate.steady]
}

output "capacity" {
  value = "${var.min}-${var.max}"
}
