# Quickstart: move a local demo service's routing from v1 to v2 in three
# stages, with a verified backup first and an HTTP health gate after every
# stage. Everything runs on this machine: the service is a small Python
# HTTP server that this migration starts and stops itself.

migration "quickstart" {
  description = "Shift the demo service's traffic from v1 to v2: 10% → 50% → 100%"
  on_failure  = "rollback"
}

variable "port" {
  type        = number
  default     = 18480
  description = "Loopback port of the demo service."
}

variable "stages" {
  type        = list(number)
  default     = [10, 50, 100]
  description = "Percentages of traffic on v2, in order."
}

variable "fail_at" {
  type        = number
  default     = 1000
  description = "The demo service reports errors once v2 carries at least this share (try 50 to see a rollback)."
}

locals {
  routing = "state/routing.json"
  health  = "http://127.0.0.1:${var.port}/health"
}

# Before: the service routes everything to v1.
step "exec" "seed" {
  shell      = "mkdir -p state && { [ -f ${local.routing} ] || echo '{\"v1\":100,\"v2\":0}' > ${local.routing}; }"
  idempotent = true
}

step "exec" "start_service" {
  shell      = "python3 service.py --port ${var.port} --config ${local.routing} --fail-at ${var.fail_at} > state/service.log 2>&1 & echo $! > state/service.pid"
  depends_on = [step.seed]
  rollback {
    shell = "kill $(cat state/service.pid) 2>/dev/null || true"
  }
}

gate "http" "service_up" {
  url        = local.health
  interval   = "100ms"
  timeout    = "15s"
  depends_on = [step.start_service]
}

module "backup" {
  source     = "../../modules/backed-up-file"
  path       = local.routing
  depends_on = [step.seed]
}

rollout "traffic" {
  stages     = var.stages
  depends_on = [module.backup, gate.service_up]

  resource "local_file" "routing" {
    path    = local.routing
    content = jsonencode({ v1 = 100 - stage.value, v2 = stage.value })
  }

  gate "http" "healthy" {
    url      = local.health
    json     = { "/v2" = stage.value, "/error_rate" = { below = 0.05 } }
    interval = "200ms"
    for      = "1s"
    timeout  = "10s"
  }
}

step "exec" "stop_service" {
  shell      = "kill $(cat state/service.pid) && rm -f state/service.pid"
  depends_on = [rollout.traffic]
}

output "backup_path" {
  value = module.backup.backup_path
}
