# A SecureString is for a secret: dbvend publishes none.

resource "aws_ssm_parameter" "connection" {
  name  = "/dbvend/dev/orders/connection"
  type  = "SecureString"
  value = "orders.abc123.us-east-1.rds.amazonaws.com"
}
