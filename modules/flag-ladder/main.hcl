# Step a percentage held in a Kubernetes ConfigMap key through a list of
# stages. After every stage: wait until the service reports the new
# percentage, then two HTTP health gates that must hold for the bake time —
# absolute thresholds, and ratios against a baseline (the canary against the
# version it replaces); either fails at once after failure_limit unhealthy
# measurements in a row. When the migration rolls back, the key gets back the
# value it had before the first stage.

variable "namespace" {
  type        = string
  description = "Namespace of the ConfigMap."
}

variable "config_map" {
  type        = string
  default     = "feature-flags"
  description = "The ConfigMap that holds the percentage."
}

variable "key" {
  type        = string
  description = "The ConfigMap key set to each stage's percentage (the other keys are left alone)."
}

variable "stages" {
  type        = list(number)
  description = "Percentages, in order."
}

variable "metrics_url" {
  type        = string
  description = "A URL answering JSON with the health figures the gates check."
}

variable "percentage_pointer" {
  type        = string
  default     = ""
  description = "JSON pointer at which metrics_url reports the percentage it sees; each stage's health gates start once it equals the stage (the configuration has propagated). Empty: not checked."
}

variable "thresholds" {
  type        = any
  default     = {}
  description = "JSON pointer → expectation checked after every stage, e.g. { \"/v2/error_rate\" = { below = 5 } }."
}

variable "baseline" {
  type        = any
  default     = {}
  description = "JSON pointer → ratio expectation, e.g. { \"/v2/error_rate\" = { ratio_to = \"/v1/error_rate\", below = 2 } }."
}

variable "bake" {
  type        = string
  default     = "5m"
  description = "How long each stage must stay healthy."
}

variable "interval" {
  type    = string
  default = "15s"
}

variable "failure_limit" {
  type        = number
  default     = 3
  description = "A health gate fails at once after this many measurements in a row that are not healthy, and the migration rolls back."
}

variable "propagation_timeout" {
  type        = string
  default     = "5m"
  description = "How long the new percentage may take to reach the service."
}

variable "timeout" {
  type        = string
  default     = "30m"
  description = "A stage that does not stay healthy for its bake time within this fails, and the migration rolls back."
}

rollout "ladder" {
  stages = var.stages

  resource "kubernetes_config_map" "flag" {
    namespace = var.namespace
    name      = var.config_map
    data      = { (var.key) = tostring(stage.value) }
  }

  # The service routes with the new percentage (the ConfigMap has reached it).
  gate "http" "propagated" {
    url      = var.metrics_url
    json     = var.percentage_pointer == "" ? {} : { (var.percentage_pointer) = stage.value }
    interval = var.interval
    timeout  = var.propagation_timeout
  }

  gate "http" "thresholds" {
    url           = var.metrics_url
    json          = var.thresholds
    for           = var.bake
    interval      = var.interval
    failure_limit = var.failure_limit
    timeout       = var.timeout
    depends_on    = [gate.propagated]
  }

  gate "http" "baseline" {
    url           = var.metrics_url
    json          = var.baseline
    for           = var.bake
    interval      = var.interval
    failure_limit = var.failure_limit
    timeout       = var.timeout
    depends_on    = [gate.propagated]
  }
}

output "final_percentage" {
  value = var.stages[length(var.stages) - 1]
}
