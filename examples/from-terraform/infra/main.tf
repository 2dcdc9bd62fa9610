# The infrastructure side, as a Terraform root module: here only outputs (no
# provider is needed), standing in for the load balancer and database a real
# root module would create. `terraform apply` writes terraform.tfstate, which
# the migration reads.

variable "colour" {
  type    = string
  default = "blue"
}

output "listener_arn" {
  value = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/${var.colour}"
}

output "tenants" {
  value = ["acme", "globex"]
}

output "db_password" {
  value     = "s3cret-${var.colour}"
  sensitive = true
}
