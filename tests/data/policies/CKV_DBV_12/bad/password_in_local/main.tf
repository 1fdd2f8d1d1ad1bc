# A String whose JSON carries a password key.

variable "master_password" {
  type      = string
  sensitive = true
}

locals {
  connection = {
    host     = "orders.abc123.us-east-1.rds.amazonaws.com"
    port     = 5432
    password = var.master_password
  }
}

resource "aws_ssm_parameter" "connection" {
  name           = "/dbvend/dev/orders/connection"
  type           = "String"
  insecure_value = jsonencode(local.connection)
}
