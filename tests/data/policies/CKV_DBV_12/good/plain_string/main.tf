# A plain value, given as value.

resource "aws_ssm_parameter" "endpoint" {
  name  = "/dbvend/dev/orders/endpoint"
  type  = "String"
  value = "orders.abc123.us-east-1.rds.amazonaws.com"
}
