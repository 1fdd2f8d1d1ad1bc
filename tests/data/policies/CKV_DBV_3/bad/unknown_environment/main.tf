# An environment dbvend.yaml does not define.

resource "aws_db_instance" "this" {
  identifier                  = "orders"
  engine                      = "postgres"
  instance_class              = "db.t3.micro"
  allocated_storage           = 20
  storage_encrypted           = true
  username                    = "dbadmin"
  manage_master_user_password = true
  publicly_accessible         = false
  multi_az                    = true
  backup_retention_period     = 14
  deletion_protection         = true
  skip_final_snapshot         = false
  final_snapshot_identifier   = "orders-final"

  tags = {
    owner        = "alice"
    environment  = "qa"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
    "expires-at" = "2026-12-01T00:00:00Z"
  }
}
