# DevMatrix MGE V2 production migration (seed runbook 003): maintenance mode,
# services stopped, a verified backup as the abort point, the V2 schema with
# its seven tables, tasks converted to atoms with integrity gates, the V2
# release, health checks and smoke tests, maintenance mode off, close
# monitoring — and restore-from-backup as the rollback.
#
# On local parts: the database is a real PostgreSQL (-var db=URL, loaded with
# fixtures/mvp.sql), the "services" are files under state/, and app.py plays
# the backend: / answers 503 in maintenance mode, /api/v1/health reports the
# release.

migration "devmatrix-mge-v2" {
  description = "MGE V2: atomic units, dependency graphs and execution waves"
  on_failure  = "rollback"
}

variable "db" {
  type        = string
  sensitive   = true
  description = "The DevMatrix database (libpq URL)."
}

variable "port" {
  type    = number
  default = 18600
}

variable "release" {
  type    = string
  default = "v2.0.0"
}

variable "min_completeness" {
  type        = number
  default     = 0.95
  description = "Average context completeness the converted atoms must reach."
}

variable "monitoring" {
  type        = string
  default     = "2h"
  description = "Close monitoring after go-live: the health gate must hold this long."
}

locals {
  app    = "http://127.0.0.1:${var.port}"
  tables = ["atomic_units", "atom_dependencies", "dependency_graphs", "validation_results", "execution_waves", "atom_retry_history", "human_review_queue"]
}

step "exec" "start_app" {
  shell = "mkdir -p state && { [ -f state/release ] || echo mvp > state/release; }; python3 app.py --port ${var.port} --state state > state/app.log 2>&1 & echo $! > state/app.pid"
  rollback {
    shell = "kill $(cat state/app.pid) 2>/dev/null || true"
  }
}

# T+0:00 Maintenance mode on: / answers 503, health stays up.
resource "local_file" "maintenance_on" {
  path       = "state/maintenance"
  content    = "on\n"
  depends_on = [step.start_app]
}

gate "http" "maintenance_active" {
  url           = "${local.app}/"
  expect_status = 503
  interval      = "100ms"
  timeout       = "20s"
  depends_on    = [local_file.maintenance_on]
}

# T+0:05 Stop all services.
resource "local_file" "workers_stopped" {
  path       = "state/workers"
  content    = "stopped\n"
  depends_on = [gate.maintenance_active]
}

gate "sql" "no_active_connections" {
  database   = var.db
  query      = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
  below      = 5
  interval   = "200ms"
  timeout    = "1m"
  depends_on = [local_file.workers_stopped]
}

# T+0:10 The backup: verified, and the abort point.
module "backup" {
  source     = "../../modules/pg-verified-backup"
  database   = var.db
  path       = "state/backups/devmatrix_pre_v2.dump"
  depends_on = [gate.no_active_connections]
}

# T+0:20 The V2 schema.
step "sql" "schema_v2" {
  database   = var.db
  file       = "migrations/mge_v2_schema.sql"
  done_when  = "SELECT count(*) = 7 FROM pg_tables WHERE tablename IN ('atomic_units', 'atom_dependencies', 'dependency_graphs', 'validation_results', 'execution_waves', 'atom_retry_history', 'human_review_queue')"
  depends_on = [module.backup]
  rollback {
    file = "migrations/mge_v2_schema.down.sql"
  }
}

gate "sql" "seven_tables" {
  database   = var.db
  query      = "SELECT count(*) FROM pg_tables WHERE tablename IN (${join(", ", [for t in local.tables : "'${t}'"])})"
  expect     = 7
  interval   = "200ms"
  timeout    = "30s"
  depends_on = [step.schema_v2]
}

# T+0:30 Data migration: a dry run, the conversion, integrity checks.
gate "sql" "dry_run" {
  database   = var.db
  query      = "SELECT count(*) FROM masterplan_tasks"
  above      = 0
  interval   = "200ms"
  timeout    = "30s"
  depends_on = [gate.seven_tables]
}

# Ten tasks a batch, each its own transaction, until none is left; the
# plan shows how many tasks the conversion would take on.
step "sql" "tasks_to_atoms" {
  database   = var.db
  file       = "migrations/migrate_tasks_to_atoms.sql"
  dry_run    = "SELECT count(*) AS tasks_to_convert FROM masterplan_tasks"
  done_when  = "SELECT NOT EXISTS (SELECT 1 FROM masterplan_tasks t WHERE NOT EXISTS (SELECT 1 FROM atomic_units a WHERE a.task_id = t.task_id))"
  depends_on = [gate.dry_run]
  repeat {
    until     = "SELECT NOT EXISTS (SELECT 1 FROM masterplan_tasks t WHERE NOT EXISTS (SELECT 1 FROM atomic_units a WHERE a.task_id = t.task_id))"
    remaining = "SELECT count(*) FROM masterplan_tasks t WHERE NOT EXISTS (SELECT 1 FROM atomic_units a WHERE a.task_id = t.task_id)"
    pause     = "50ms"
  }
  rollback {
    sql = "TRUNCATE atomic_units CASCADE"
  }
}

gate "sql" "all_tasks_migrated" {
  database     = var.db
  query        = "SELECT task_id FROM masterplan_tasks t WHERE NOT EXISTS (SELECT 1 FROM atomic_units a WHERE a.task_id = t.task_id)"
  expect_empty = true
  interval     = "200ms"
  timeout      = "30s"
  depends_on   = [step.tasks_to_atoms]
}

gate "sql" "eight_atoms_per_task" {
  database   = var.db
  query      = "SELECT (SELECT count(*) FROM atomic_units) = 8 * (SELECT count(*) FROM masterplan_tasks)"
  interval   = "200ms"
  timeout    = "30s"
  depends_on = [step.tasks_to_atoms]
}

gate "sql" "context_complete" {
  database   = var.db
  query      = "SELECT avg((context_json->>'completeness_score')::float) FROM atomic_units"
  above      = var.min_completeness
  interval   = "200ms"
  timeout    = "2s"
  depends_on = [step.tasks_to_atoms]
}

# T+1:30 Deploy the V2 code.
resource "local_file" "release" {
  path       = "state/release"
  content    = "${var.release}\n"
  depends_on = [gate.all_tasks_migrated, gate.eight_atoms_per_task, gate.context_complete]
}

# T+2:00 Health checks and smoke tests.
gate "http" "health" {
  url        = "${local.app}/api/v1/health"
  json       = { "/status" = "healthy", "/version" = var.release }
  interval   = "100ms"
  timeout    = "30s"
  depends_on = [local_file.release]
}

gate "sql" "smoke_atoms_queryable" {
  database   = var.db
  query      = "SELECT count(*) FROM atomic_units a JOIN masterplan_tasks t USING (task_id) WHERE a.complexity > 0"
  above      = 0
  interval   = "200ms"
  timeout    = "30s"
  depends_on = [local_file.release]
}

# T+2:30 Go live: maintenance mode off.
resource "local_file" "maintenance_off" {
  path       = "state/maintenance"
  content    = "off\n"
  depends_on = [gate.health, gate.smoke_atoms_queryable]
}

gate "http" "serving" {
  url        = "${local.app}/"
  interval   = "100ms"
  timeout    = "20s"
  depends_on = [local_file.maintenance_off]
}

# T+2:30 → T+4:30 Close monitoring.
gate "http" "close_monitoring" {
  url        = "${local.app}/api/v1/health"
  json       = { "/status" = "healthy" }
  for        = var.monitoring
  interval   = "250ms"
  timeout    = "5h"
  depends_on = [gate.serving]
}

step "exec" "stop_app" {
  shell      = "kill $(cat state/app.pid) && rm -f state/app.pid"
  depends_on = [gate.close_monitoring]
}

output "backup_sha256" {
  value = module.backup.sha256
}
