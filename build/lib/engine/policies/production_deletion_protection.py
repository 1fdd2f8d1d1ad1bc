"""CKV_DBV_6: production databases have deletion protection."""

from __future__ import annotations

from typing import Any

from _context import as_bool, current_context, environment_of, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class ProductionDeletionProtection(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Production database has deletion protection",
            id="CKV_DBV_6",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_db_instance", "aws_rds_cluster"],
            guideline="Set deletion_protection = true for production databases.",
        )
        self.severity = Severities[BcSeverities.HIGH]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["deletion_protection", "tags"]
        if not current_context().production_rules_apply(environment_of(conf)):
            return CheckResult.PASSED
        if as_bool(value_of(conf, "deletion_protection")) is True:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = ProductionDeletionProtection()
