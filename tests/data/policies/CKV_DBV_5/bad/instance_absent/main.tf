# Unencrypted by default.

resource "aws_db_instance" "this" {
  identifier                  = "orders"
  engine                      = "postgres"
  instance_class              = "db.t3.micro"
  allocated_storage           = 20
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
