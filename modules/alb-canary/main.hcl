# Shift an ALB listener's traffic from one target group to another in stages,
# with a CloudWatch gate after every stage.

variable "listener_arn" {
  type        = string
  description = "The listener whose default action is a weighted forward."
}

variable "from_target_group" {
  type        = string
  description = "The target group traffic moves away from."
}

variable "to_target_group" {
  type        = string
  description = "The target group traffic moves to."
}

variable "stages" {
  type        = list(number)
  default     = [10, 50, 100]
  description = "Percent of traffic on to_target_group, in order."
}

variable "metric_namespace" {
  type    = string
  default = "AWS/ApplicationELB"
}

variable "metric" {
  type        = string
  default     = "HTTPCode_Target_5XX_Count"
  description = "The metric each stage's gate watches."
}

variable "statistic" {
  type    = string
  default = "Sum"
}

variable "dimensions" {
  type    = map(string)
  default = {}
}

variable "below" {
  type        = number
  default     = 5
  description = "The gate holds while the metric stays below this."
}

variable "bake" {
  type        = string
  default     = "15m"
  description = "How long each stage must stay healthy."
}

variable "interval" {
  type    = string
  default = "1m"
}

variable "timeout" {
  type        = string
  default     = "1h"
  description = "A stage that does not stay healthy for its bake time within this fails, and the migration rolls back."
}

rollout "shift" {
  stages = var.stages

  resource "aws_lb_listener_weights" "weights" {
    listener_arn = var.listener_arn
    weights      = { (var.from_target_group) = 100 - stage.value, (var.to_target_group) = stage.value }
  }

  gate "cloudwatch" "healthy" {
    namespace  = var.metric_namespace
    metric     = var.metric
    statistic  = var.statistic
    dimensions = var.dimensions
    below      = var.below
    for        = var.bake
    interval   = var.interval
    timeout    = var.timeout
  }
}

output "final_weight" {
  value = var.stages[length(var.stages) - 1]
}
