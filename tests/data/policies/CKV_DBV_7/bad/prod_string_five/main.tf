# A number written as a string, still too few.

resource "aws_db_instance" "this" {
  identifier                  = "orders"
  engine                      = "postgres"
  instance_class              = "db.m6g.large"
  allocated_storage           = 20
  storage_encrypted           = true
  username                    = "dbadmin"
  manage_master_user_password = true
  publicly_accessible         = false
  multi_az                    = true
  backup_retention_period     = "5"
  deletion_protection         = true
  skip_final_snapshot         = false
  final_snapshot_identifier   = "orders-final"

  tags = {
    owner        = "alice"
    environment  = "prod"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
  }
}
