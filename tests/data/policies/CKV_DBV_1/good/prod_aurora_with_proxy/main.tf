# Cluster, instances and proxy all tagged.

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
  identifier          = "orders-writer"
  cluster_identifier  = aws_rds_cluster.this.id
  instance_class      = "db.serverless"
  engine              = aws_rds_cluster.this.engine
  publicly_accessible = false

  tags = {
    owner        = "alice"
    environment  = "prod"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
  }
}

resource "aws_rds_cluster_instance" "reader_1" {
  identifier          = "orders-reader-1"
  cluster_identifier  = aws_rds_cluster.this.id
  instance_class      = "db.serverless"
  engine              = aws_rds_cluster.this.engine
  publicly_accessible = false

  tags = {
    owner        = "alice"
    environment  = "prod"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
  }
}

resource "aws_db_proxy" "this" {
  name           = "orders-proxy"
  engine_family  = "POSTGRESQL"
  role_arn       = "arn:aws:iam::123456789012:role/dbvend-proxy"
  vpc_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  require_tls    = true

  auth {
    auth_scheme = "SECRETS"
    iam_auth    = "REQUIRED"
    secret_arn  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders"
  }

  tags = {
    owner        = "alice"
    environment  = "prod"
    "request-id" = "req-1"
    "managed-by" = "dbvend"
  }
}
