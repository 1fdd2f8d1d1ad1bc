"""Connection details as a root's `connection` output holds them, and a password that must never
travel with them (tests put it beside the details, in the state and the environment, and look for it)."""

from __future__ import annotations

from typing import Any, Final

SECRET_ARN: Final = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-orders-4f1c2a-AbCdEf"
POSTGRES: Final[dict[str, Any]] = {
    "engine": "postgres",
    "host": "orders.c9akciq32.us-east-1.rds.amazonaws.com",
    "port": 5432,
    "database": "orders",
    "username": "dbadmin",
    "reader_host": None,
    "proxy_host": None,
    "master_secret_arn": SECRET_ARN,
    "iam_auth": True,
}
AURORA_MYSQL: Final[dict[str, Any]] = {
    "engine": "aurora-mysql",
    "host": "ledger.cluster-c9akciq32.eu-west-1.rds.amazonaws.com",
    "port": 3306,
    "database": "ledger",
    "username": "dbadmin",
    "reader_host": "ledger.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com",
    "proxy_host": "ledger-proxy.proxy-c9akciq32.eu-west-1.rds.amazonaws.com",
    "master_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-77aa-Xy12Zw",
    "iam_auth": True,
}
# The master password: in a real state it sits in no output of dbvend's, yet it must not leak anywhere.
SENTINEL_PASSWORD: Final = "Sentinel-Pa55word-7f3a9c1e"
