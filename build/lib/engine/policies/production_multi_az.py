"""CKV_DBV_8: production RDS instances run in more than one availability zone."""

from __future__ import annotations

from typing import Any

from _context import as_bool, current_context, environment_of, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class ProductionMultiAz(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Production RDS instance is Multi-AZ",
            id="CKV_DBV_8",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_db_instance"],
            guideline="Set multi_az = true for production RDS instances.",
        )
        self.severity = Severities[BcSeverities.MEDIUM]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["multi_az", "tags"]
        if not current_context().production_rules_apply(environment_of(conf)):
            return CheckResult.PASSED
        if as_bool(value_of(conf, "multi_az")) is True:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = ProductionMultiAz()
