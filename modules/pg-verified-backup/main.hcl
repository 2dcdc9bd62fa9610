# A PostgreSQL backup that is read back before anything that depends on it
# starts, and that restores itself when the migration rolls back.

variable "database" {
  type        = string
  sensitive   = true
  description = "The database to back up (libpq URL; the password may come from PGPASSWORD)."
}

variable "path" {
  type        = string
  description = "Where to write the archive."
}

variable "format" {
  type        = string
  default     = "custom"
  description = "custom (restorable with pg_restore) or plain (SQL)."
}

step "pg_dump" "dump" {
  database = var.database
  path     = var.path
  format   = var.format
  verify   = true
  rollback {
    restore = true
  }
}

# The archive must still be there, and not empty, when the migration goes on.
gate "exec" "kept" {
  command    = ["test", "-s", var.path]
  timeout    = "10s"
  depends_on = [step.dump]
}

output "path" {
  value = step.dump.path
}

output "sha256" {
  value = step.dump.sha256
}

output "size" {
  value = step.dump.size
}
