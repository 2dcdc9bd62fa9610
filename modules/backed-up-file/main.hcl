# Back up one file before a migration changes it, verify the copy, and put
# the original back on rollback.

variable "path" {
  type        = string
  description = "The file to back up."
}

variable "backup" {
  type        = string
  default     = ""
  description = "Where to keep the copy (default: PATH.bak)."
}

locals {
  backup = var.backup != "" ? var.backup : "${var.path}.bak"
}

step "exec" "copy" {
  command           = ["cp", "-p", var.path, local.backup]
  expected_duration = "1s"
  rollback {
    command = ["cp", "-p", local.backup, var.path]
  }
}

gate "exec" "verified" {
  command    = ["cmp", "-s", var.path, local.backup]
  timeout    = "10s"
  depends_on = [step.copy]
}

output "backup_path" {
  value = local.backup
}
