# The master secret's contents copied into a plain parameter.

data "aws_secretsmanager_secret_version" "master" {
  secret_id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123"
}

resource "aws_ssm_parameter" "connection" {
  name  = "/dbvend/dev/orders/connection"
  type  = "String"
  value = data.aws_secretsmanager_secret_version.master.secret_string
}
