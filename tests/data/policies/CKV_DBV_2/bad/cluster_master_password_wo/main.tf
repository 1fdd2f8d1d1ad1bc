# Write-only passwords are still passwords in Terraform.

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
  master_password_wo          = "correct-horse-battery"
  master_password_wo_version  = 1

  serverlessv2_scaling_configuration {
    min_capacity = 1
    max_capacity = 64
  }

  tags = {
    owner        = "alice"
    environment  = "prod"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
  }
}
