# dbvend's published connection: where to connect and the master secret's ARN, no password.

resource "aws_db_instance" "this" {
  identifier                  = "orders"
  engine                      = "postgres"
  instance_class              = "db.t3.micro"
  allocated_storage           = 20
  storage_encrypted           = true
  username                    = "dbadmin"
  manage_master_user_password = true
  publicly_accessible         = false
  multi_az                    = false
  backup_retention_period     = 1
  deletion_protection         = false
  skip_final_snapshot         = true

  tags = {
    owner        = "alice"
    environment  = "dev"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
    "expires-at" = "2026-12-01T00:00:00Z"
  }
}

locals {
  connection = {
    engine            = "postgres"
    host              = aws_db_instance.this.address
    port              = aws_db_instance.this.port
    database          = aws_db_instance.this.db_name
    username          = aws_db_instance.this.username
    reader_host       = null
    proxy_host        = null
    master_secret_arn = aws_db_instance.this.master_user_secret[0].secret_arn
    iam_auth          = aws_db_instance.this.iam_database_authentication_enabled
  }
}

resource "aws_ssm_parameter" "connection" {
  name           = "/dbvend/dev/orders/connection"
  type           = "String"
  insecure_value = jsonencode(local.connection)
}
