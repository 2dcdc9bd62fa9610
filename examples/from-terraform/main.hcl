# Reads what a migration needs from Terraform's state instead of copying it
# by hand: the listener's ARN and the tenants are plain outputs, the database
# password is a sensitive one and stays sensitive here (it reaches the step's
# environment, never a plan, a log or the lockfile).
#
# First:  terraform -chdir=infra init && terraform -chdir=infra apply -auto-approve
# Then:   cutover plan   (or apply)

migration "from-terraform" {
  description = "Point the router at Terraform's listener, tenant by tenant"
}

variable "state" {
  type        = string
  default     = "infra/terraform.tfstate"
  description = "A Terraform state file, or the JSON of `terraform output -json`."
}

data "terraform_outputs" "infra" {
  path = var.state
}

resource "local_file" "router" {
  path    = "state/router.json"
  content = jsonencode({ listener = data.terraform_outputs.infra.values.listener_arn })
}

step "exec" "register" {
  for_each   = toset(data.terraform_outputs.infra.values.tenants)
  shell      = "mkdir -p state && test -n \"$DB_PASSWORD\" && echo ${each.key} >> state/registered.txt"
  env        = { DB_PASSWORD = data.terraform_outputs.infra.sensitive_values.db_password }
  depends_on = [local_file.router]

  rollback {
    shell = "rm -f state/registered.txt"
  }
}

output "listener" {
  value = data.terraform_outputs.infra.values.listener_arn
}
