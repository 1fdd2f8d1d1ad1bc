# 8 ACU in dev, whose limit is 4.

resource "aws_rds_cluster" "this" {
  cluster_identifier          = "orders"
  engine                      = "aurora-postgresql"
  engine_mode                 = "provisioned"
  master_username             = "dbadmin"
  manage_master_user_password = true
  storage_encrypted           = true
  backup_retention_period     = 1
  deletion_protection         = false
  skip_final_snapshot         = true

  serverlessv2_scaling_configuration {
    min_capacity = 0.5
    max_capacity = 8
  }

  tags = {
    owner        = "alice"
    environment  = "dev"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
    "expires-at" = "2026-12-01T00:00:00Z"
  }
}
