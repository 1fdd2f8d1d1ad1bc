# An environment dbvend.yaml does not define.

resource "aws_rds_cluster" "this" {
  cluster_identifier          = "orders"
  engine                      = "aurora-postgresql"
  engine_mode                 = "provisioned"
  master_username             = "dbadmin"
  manage_master_user_password = true
  storage_encrypted           = true
  backup_retention_period     = 14
  deletion_protection         = true
  skip_final_snapshot         = false
  final_snapshot_identifier   = "orders-final"

  serverlessv2_scaling_configuration {
    min_capacity = 0.5
    max_capacity = 2
  }

  tags = {
    owner        = "alice"
    environment  = "qa"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
    "expires-at" = "2026-12-01T00:00:00Z"
  }
}
