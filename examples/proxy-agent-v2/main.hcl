# Proxy Agent Platform: v1 → v2 with zero downtime (seed runbook 002).
#
# The legacy SQLite database is backed up and copied into PostgreSQL with
# parity gates (counts, and keys missing on either side); the v2 Deployment is
# configured for PostgreSQL and scaled up; then the router's
# v2_traffic_percentage, held in the `feature-flags` ConfigMap, climbs
# 1 → 5 → 10 → 25 → 50 → 75 → 90 → 95 → 100 with the runbook's
# CanaryHealthChecker after every stage, once the router sees the new
# percentage: absolute thresholds (error rate 5 %, p95 500 ms) and ratios
# against the v1 baseline (error rate 2×, latency 1.5×), three unhealthy
# measurements in a row failing the stage at once. After the last stage v1 is kept on standby with one replica. When a
# gate fails, everything is undone: the percentage goes back to 0, v2 scales
# back to 0 replicas, the PostgreSQL tables are dropped, SQLite was never
# written to.
#
# On local parts: a Kubernetes API server (fixtures/cluster.json holds the
# Deployments and ConfigMap as they are before the migration), a PostgreSQL
# database (-var db=URL), and app.py, started by this migration, playing the
# router: it reads the ConfigMap where its pod would have it mounted
# (state/feature-flags/, one file per key, kept in sync by the kubelet) and
# reports each version's error rate and latency at /metrics.

migration "proxy-agent-v2" {
  description = "Strangler-fig cutover of the Proxy Agent Platform backend to v2 on PostgreSQL"
  on_failure  = "rollback"
}

variable "namespace" {
  type        = string
  default     = "proxy-agent"
  description = "Where the api Deployments and the feature-flags ConfigMap live."
}

variable "kubeconfig" {
  type        = string
  default     = ""
  description = "A kubeconfig file; empty: KUBECONFIG, ~/.kube/config or in-cluster, as kubectl finds it."
}

variable "db" {
  type        = string
  sensitive   = true
  description = "The v2 PostgreSQL database (libpq URL; the password may come from PGPASSWORD)."
}

variable "port" {
  type        = number
  default     = 18600
  description = "Loopback port of the demo router."
}

variable "release" {
  type    = string
  default = "v2.0.0"
}

variable "v2_replicas" {
  type    = number
  default = 3
}

variable "v1_standby_replicas" {
  type        = number
  default     = 1
  description = "v1 replicas kept on standby once v2 takes all traffic."
}

variable "stages" {
  type        = list(number)
  default     = [1, 5, 10, 25, 50, 75, 90, 95, 100]
  description = "The canary release schedule: percent of traffic on v2."
}

variable "bake" {
  type        = string
  default     = "5m"
  description = "How long each stage must stay healthy (check_health.py --duration=300)."
}

variable "stage_timeout" {
  type        = string
  default     = "30m"
  description = "A stage that is not healthy for its whole bake time within this fails, and everything rolls back."
}

variable "poll_interval" {
  type    = string
  default = "15s"
}

variable "final_monitoring" {
  type        = string
  default     = "15m"
  description = "02:05 — monitor error rates at 100 % before declaring the cutover complete."
}

variable "fail_at" {
  type        = number
  default     = 1000
  description = "The demo router's v2 starts failing once the percentage reaches this (try 25 to see the automatic rollback)."
}

locals {
  app    = "http://127.0.0.1:${var.port}"
  legacy = "state/proxy_agents.db"
  tables = ["users", "projects", "tasks", "micro_steps", "focus_sessions"]
  keys   = ["users:user_id", "projects:project_id", "tasks:task_id", "micro_steps:step_id", "focus_sessions:session_id"]
}

provider "kubernetes" {
  config_path = var.kubeconfig
  namespace   = var.namespace
}

# Pre-cutover validation.
step "exec" "legacy_database" {
  description = "The v1 SQLite database as it is before the migration (created from fixtures/ on a first run)."
  command     = ["python3", "legacy.py", "create", local.legacy, "fixtures/proxy_agents.sql"]
  idempotent  = true
}

gate "sql" "postgres_reachable" {
  database = var.db
  query    = "SELECT 1"
  expect   = 1
  timeout  = "30s"
}

gate "k8s_rollout" "v1_serving" {
  namespace = var.namespace
  name      = "api"
  interval  = var.poll_interval
  timeout   = "2m"
}

# 01:00 — final database backup, read back before anything depends on it.
step "exec" "backup" {
  command    = ["python3", "legacy.py", "backup", local.legacy, "state/backups/proxy_agents.pre-v2.db"]
  depends_on = [step.legacy_database]
}

gate "exec" "backup_verified" {
  command = ["python3", "legacy.py", "verify", step.backup.outputs.path, local.legacy]
  timeout = "30s"
}

# Data migration: SQLite → PostgreSQL (scripts/migrate_data.py).
step "sql" "schema_v2" {
  database   = var.db
  file       = "migrations/v2_schema.sql"
  done_when  = "SELECT to_regclass('focus_sessions') IS NOT NULL"
  depends_on = [gate.postgres_reachable, gate.backup_verified]
  rollback {
    file = "migrations/v2_schema.down.sql"
  }
}

step "exec" "copy_data" {
  command    = concat(["python3", "copy_data.py", local.legacy], local.tables)
  env        = { DATABASE_URL = var.db }
  idempotent = true
  timeout    = "30m"
  depends_on = [step.schema_v2]
}

gate "row_parity" "record_counts" {
  source     = "sqlite:${local.legacy}"
  target     = var.db
  tables     = local.tables
  timeout    = "1m"
  depends_on = [step.copy_data]
}

gate "exec" "no_missing_keys" {
  command    = concat(["python3", "legacy.py", "compare", local.legacy], local.keys)
  env        = { DATABASE_URL = var.db }
  timeout    = "1m"
  depends_on = [step.copy_data]
}

# v2 deployed on PostgreSQL, still without traffic.
resource "kubernetes_deployment" "api_v2" {
  namespace  = var.namespace
  name       = "api-v2"
  replicas   = var.v2_replicas
  images     = { api = "proxy-agent/api:${var.release}" }
  env        = { api = { USE_V2_REPOSITORIES = "true", USE_V2_SERVICES = "true", USE_POSTGRESQL = "true" } }
  depends_on = [gate.record_counts, gate.no_missing_keys, gate.v1_serving]
}

gate "k8s_rollout" "v2_ready" {
  namespace  = var.namespace
  name       = "api-v2"
  interval   = var.poll_interval
  timeout    = "10m"
  depends_on = [kubernetes_deployment.api_v2]
}

step "exec" "start_router" {
  description = "The demo router (app.py), standing in for the platform's traffic-splitting middleware."
  shell       = "mkdir -p state/feature-flags && python3 app.py --port ${var.port} --flags state/feature-flags --fail-at ${var.fail_at} > state/router.log 2>&1 & echo $! > state/router.pid"
  rollback {
    shell = "kill $(cat state/router.pid) 2>/dev/null || true"
  }
}

gate "http" "baseline_healthy" {
  url        = "${local.app}/health"
  json       = { "/status" = "healthy", "/version" = "v1" }
  interval   = "200ms"
  timeout    = "30s"
  depends_on = [step.start_router]
}

# Phase 2: the canary release schedule, health-checked after every stage.
module "canary" {
  source             = "../../modules/flag-ladder"
  namespace          = var.namespace
  config_map         = "feature-flags"
  key                = "v2_traffic_percentage"
  stages             = var.stages
  metrics_url        = "${local.app}/metrics"
  percentage_pointer = "/v2_traffic_percentage"
  thresholds = {
    "/v2/error_rate"     = { below = 5 }
    "/v2/latency_p95_ms" = { below = 500 }
  }
  baseline = {
    "/v2/error_rate"     = { ratio_to = "/baseline/error_rate", below = 2 }
    "/v2/latency_p95_ms" = { ratio_to = "/baseline/latency_p95_ms", below = 1.5 }
  }
  bake                = var.bake
  interval            = var.poll_interval
  failure_limit       = 3
  propagation_timeout = var.stage_timeout
  timeout             = var.stage_timeout
  depends_on          = [gate.v2_ready, gate.baseline_healthy]
}

# 02:05–03:00 — monitor, smoke test, validate data consistency, then keep v1
# on standby.
gate "http" "error_rates_after_cutover" {
  url = "${local.app}/metrics"
  json = {
    "/v2_traffic_percentage" = 100
    "/v2/error_rate"         = { ratio_to = "/baseline/error_rate", below = 2 }
  }
  for        = var.final_monitoring
  interval   = var.poll_interval
  timeout    = var.stage_timeout
  depends_on = [module.canary]
}

gate "http" "smoke" {
  url        = "${local.app}/health"
  json       = { "/status" = "healthy", "/version" = "v2" }
  timeout    = "1m"
  depends_on = [module.canary]
}

gate "row_parity" "data_consistent" {
  source     = "sqlite:${local.legacy}"
  target     = var.db
  tables     = local.tables
  timeout    = "1m"
  depends_on = [gate.error_rates_after_cutover, gate.smoke]
}

resource "kubernetes_deployment" "api_v1_standby" {
  namespace  = var.namespace
  name       = "api"
  replicas   = var.v1_standby_replicas
  depends_on = [gate.data_consistent]
}

output "backup" {
  value = step.backup.outputs
}

output "rows_copied" {
  value = step.copy_data.outputs.rows
}

output "v2_traffic_percentage" {
  value = module.canary.final_percentage
}
