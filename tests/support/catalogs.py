"""dbvend.yaml texts the tests start from: the default catalog with network settings, or with a
policy section of their own."""

from __future__ import annotations

from engine.catalog import default_catalog_text

# The default catalog with network settings, so that RDS Proxy can be requested everywhere.
NETWORKED_CATALOG = default_catalog_text().replace(
    "network: {db_subnet_group: null, security_group_ids: [], subnet_ids: []}",
    "network: {db_subnet_group: dbvend-private, security_group_ids: [sg-0123456789abcdef0],"
    " subnet_ids: [{id: subnet-0123456789abcdef0, az: us-east-1a},"
    " {id: subnet-0fedcba9876543210, az: us-east-1b}]}",
)


def catalog_with(policy: str) -> str:
    """The default catalog with this policy section instead of its own."""
    return default_catalog_text().split("\npolicy:")[0] + "\n" + policy
