"""CKV_DBV_7: production databases keep automated backups for at least 7 days."""

from __future__ import annotations

from typing import Any

from _context import as_number, current_context, environment_of, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

MINIMUM_DAYS = 7


class ProductionBackupRetention(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=f"Production database keeps automated backups for at least {MINIMUM_DAYS} days",
            id="CKV_DBV_7",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_db_instance", "aws_rds_cluster"],
            guideline=f"Set backup_retention_period to {MINIMUM_DAYS} or more (up to 35) in production.",
        )
        self.severity = Severities[BcSeverities.HIGH]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["backup_retention_period", "tags"]
        if not current_context().production_rules_apply(environment_of(conf)):
            return CheckResult.PASSED
        days = as_number(value_of(conf, "backup_retention_period"))  # absent: the provider's 0 or 1
        if days is not None and days >= MINIMUM_DAYS:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = ProductionBackupRetention()
