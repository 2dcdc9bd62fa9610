# Renames a column online, in expand → backfill → gate → contract order, in
# one PostgreSQL database. Called once per tenant with for_each.

variable "database" {
  type        = string
  sensitive   = true
  description = "Connection URL of the tenant's database."
}

variable "table" {
  type    = string
  default = "accounts"
}

variable "from" {
  type = string
}

variable "to" {
  type = string
}

variable "batch_size" {
  type    = number
  default = 1000
}

# Expand: the new column exists beside the old one; writers may fill both.
step "sql" "expand" {
  database = var.database
  sql      = "ALTER TABLE ${var.table} ADD COLUMN IF NOT EXISTS ${var.to} text"
  rollback {
    sql = "ALTER TABLE ${var.table} DROP COLUMN IF EXISTS ${var.to}"
  }
}

# Backfill in batches, each its own transaction, until nothing is left.
step "sql" "backfill" {
  database   = var.database
  sql        = "UPDATE ${var.table} SET ${var.to} = ${var.from} WHERE ctid IN (SELECT ctid FROM ${var.table} WHERE ${var.to} IS NULL AND ${var.from} IS NOT NULL LIMIT ${var.batch_size})"
  depends_on = [step.expand]
  repeat {
    until_rows_affected = 0
    remaining           = "SELECT count(*) FROM ${var.table} WHERE ${var.to} IS NULL AND ${var.from} IS NOT NULL"
  }
}

gate "sql" "backfilled" {
  database   = var.database
  query      = "SELECT count(*) FROM ${var.table} WHERE ${var.to} IS DISTINCT FROM ${var.from}"
  expect     = 0
  interval   = "200ms"
  timeout    = "1m"
  depends_on = [step.backfill]
}

# Contract: the old column goes. Nothing brings its data back from here on.
step "sql" "contract" {
  database     = var.database
  sql          = "ALTER TABLE ${var.table} DROP COLUMN ${var.from}"
  irreversible = true
  depends_on   = [gate.backfilled]
}

output "column" {
  value = "${var.table}.${var.to}"
}
