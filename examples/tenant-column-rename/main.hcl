# The same column rename in every tenant's database: one module block with
# for_each, where three tenants once needed three copies of every block.

migration "tenant-column-rename" {
  description = "Rename accounts.login to accounts.username in every tenant database"
  on_failure  = "rollback"
}

variable "server" {
  type        = string
  sensitive   = true
  description = "PostgreSQL server URL without a database name, e.g. postgres://app@db.internal:5432"
}

variable "tenants" {
  type        = set(string)
  description = "Tenant database names."
  default     = ["acme", "globex", "initech"]
}

module "tenant" {
  source   = "../../modules/column-rename"
  for_each = toset(var.tenants)
  database = "${var.server}/${each.key}"
  from     = "login"
  to       = "username"
  fleet {
    batches    = [1, "100%"] # one tenant first, then all the others
    max_errors = 0           # the first failed tenant stops the rollout
  }
}

# Runs once every tenant is renamed.
step "exec" "announce" {
  shell      = "echo renamed ${join(", ", [for t in values(module.tenant) : t.column])} in ${length(module.tenant)} tenants"
  depends_on = [module.tenant]
}

output "renamed" {
  value = [for k, t in module.tenant : "${k}: ${t.column}"]
}
