# Phase 1 rolling deploy (seed runbook 004): pre-deployment checks, a
# pre-deploy snapshot, backend then frontend deploy with health checks, the
# PHASE_1_ROLLOUT_PERCENTAGE flag stepped 0 → 10 → 50 → 100 % with a
# monitoring window after each step, post-deploy validation, and rollback.
#
# On local parts: the "servers" are files under state/, and a small HTTP
# service (app.py, started by this migration) plays the production app: it
# serves /healthz, / and /metrics from those files.

migration "phase1-rollout" {
  description = "Deploy Phase 1 (unified HTTP client, dead code removal, centralized config) with a progressive flag rollout"
  on_failure  = "rollback"
}

variable "port" {
  type        = number
  default     = 18500
  description = "Loopback port of the demo app."
}

variable "release" {
  type    = string
  default = "phase1"
}

variable "monitoring_windows" {
  type        = map(string)
  description = "How long each rollout percentage must stay healthy (the runbook's monitoring windows)."
  default = {
    "0"   = "0s"
    "10"  = "15m"
    "50"  = "30m"
    "100" = "0s"
  }
}

variable "window_timeout" {
  type        = string
  default     = "2h"
  description = "A stage that does not stay healthy for its whole window within this time fails, and the deploy rolls back."
}

variable "poll_interval" {
  type    = string
  default = "30s"
}

variable "error_rate_limit" {
  type        = number
  default     = 0.05
  description = "Rollback trigger: error rate (the runbook's 5 %)."
}

variable "p95_limit_ms" {
  type        = number
  default     = 300
  description = "Rollback trigger: p95 latency during the rollout."
}

variable "fail_at" {
  type        = number
  default     = 1000
  description = "The demo app starts failing once the flag reaches this percentage (try 50 to see the rollback)."
}

locals {
  app = "http://127.0.0.1:${var.port}"
}

# Pre-deployment checks.
gate "exec" "python_311" {
  command = ["python3", "-c", "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)"]
  timeout = "10s"
}

step "exec" "servers" {
  description = "The production servers as they are before the deploy."
  shell       = "mkdir -p state/api state/webapp && { [ -f state/api/VERSION ] || echo v0 > state/api/VERSION; } && { [ -f state/webapp/VERSION ] || echo v0 > state/webapp/VERSION; } && { [ -f state/app.env ] || printf 'BACKEND_API_URL=%s\\nFRONTEND_URL=%s\\n' ${local.app} ${local.app} > state/app.env; }"
  idempotent  = true
}

gate "exec" "environment_configured" {
  shell      = "grep -q '^BACKEND_API_URL=' state/app.env && grep -q '^FRONTEND_URL=' state/app.env"
  timeout    = "10s"
  depends_on = [step.servers]
}

# Backup procedures: the pre-deploy snapshot (the runbook's git tag).
step "exec" "pre_deploy_snapshot" {
  shell      = "mkdir -p state/tags/phase1-pre-deploy && cp -p state/api/VERSION state/tags/phase1-pre-deploy/api && cp -p state/webapp/VERSION state/tags/phase1-pre-deploy/webapp"
  depends_on = [gate.environment_configured, gate.python_311]
  rollback {
    shell = "cp -p state/tags/phase1-pre-deploy/api state/api/VERSION && cp -p state/tags/phase1-pre-deploy/webapp state/webapp/VERSION"
  }
}

step "exec" "start_app" {
  shell      = "python3 app.py --port ${var.port} --state state --fail-at ${var.fail_at} > state/app.log 2>&1 & echo $! > state/app.pid"
  depends_on = [step.servers]
  rollback {
    shell = "kill $(cat state/app.pid) 2>/dev/null || true"
  }
}

# Phase A: backend.
resource "local_file" "api_release" {
  path       = "state/api/VERSION"
  content    = "${var.release}\n"
  depends_on = [step.pre_deploy_snapshot, step.start_app]
}

gate "http" "api_healthy" {
  url        = "${local.app}/healthz"
  json       = { "/status" = "healthy", "/api_version" = var.release }
  interval   = "200ms"
  timeout    = "30s"
  depends_on = [local_file.api_release]
}

# Phase B: frontend.
resource "local_file" "webapp_release" {
  path       = "state/webapp/VERSION"
  content    = "${var.release}\n"
  depends_on = [gate.api_healthy]
}

gate "http" "webapp_healthy" {
  url           = "${local.app}/"
  body_contains = "<html"
  interval      = "200ms"
  timeout       = "30s"
  depends_on    = [local_file.webapp_release]
}

# Phase C: the progressive rollout of PHASE_1_ROLLOUT_PERCENTAGE.
rollout "phase1_flag" {
  stages     = [0, 10, 50, 100]
  depends_on = [gate.webapp_healthy]

  resource "local_file" "flag" {
    path    = "state/flags.env"
    content = "PHASE_1_ROLLOUT_PERCENTAGE=${stage.value}\n"
  }

  gate "http" "monitoring_window" {
    url = "${local.app}/metrics"
    json = {
      "/rollout_percentage" = stage.value
      "/error_rate"         = { below = var.error_rate_limit }
      "/p95_latency_ms"     = { below = var.p95_limit_ms }
    }
    for      = lookup(var.monitoring_windows, tostring(stage.value), "0s")
    interval = var.poll_interval
    timeout  = var.window_timeout
  }
}

# Post-deployment validation.
gate "http" "post_deploy_validation" {
  url = "${local.app}/metrics"
  json = {
    "/error_rate"     = { below = var.error_rate_limit }
    "/p95_latency_ms" = { below = 100 }
  }
  interval   = "200ms"
  timeout    = "1m"
  depends_on = [rollout.phase1_flag]
}

step "exec" "stop_app" {
  shell      = "kill $(cat state/app.pid) && rm -f state/app.pid"
  depends_on = [gate.post_deploy_validation]
}

output "released" {
  value = var.release
}
