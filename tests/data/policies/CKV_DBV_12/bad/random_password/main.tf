# A generated password published as a String.

resource "random_password" "master" {
  length = 32
}

resource "aws_ssm_parameter" "connection" {
  name           = "/dbvend/dev/orders/connection"
  type           = "String"
  insecure_value = random_password.master.result
}
