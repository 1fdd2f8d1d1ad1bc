# Absent is the provider's default, false.

resource "aws_db_instance" "this" {
  identifier                  = "orders"
  engine                      = "postgres"
  instance_class              = "db.t3.micro"
  allocated_storage           = 20
  storage_encrypted           = true
  username                    = "dbadmin"
  manage_master_user_password = true
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

resource "aws_rds_cluster_instance" "writer" {
  identifier         = "orders-writer"
  cluster_identifier = aws_rds_cluster.this.id
  instance_class     = "db.serverless"
  engine             = aws_rds_cluster.this.engine

  tags = {
    owner        = "alice"
    environment  = "prod"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
  }
}
