"""CKV_DBV_9: destroying a production database leaves a final snapshot."""

from __future__ import annotations

from typing import Any

from _context import as_bool, current_context, environment_of, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class ProductionFinalSnapshot(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Production database keeps a final snapshot when destroyed",
            id="CKV_DBV_9",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_db_instance", "aws_rds_cluster"],
            guideline="Set skip_final_snapshot = false and a final_snapshot_identifier in production.",
        )
        self.severity = Severities[BcSeverities.HIGH]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["skip_final_snapshot", "final_snapshot_identifier", "tags"]
        if not current_context().production_rules_apply(environment_of(conf)):
            return CheckResult.PASSED
        skip = value_of(conf, "skip_final_snapshot")  # absent or null: the provider's false
        if skip is not None and as_bool(skip) is not False:
            return CheckResult.FAILED
        identifier = value_of(conf, "final_snapshot_identifier")
        if isinstance(identifier, str) and identifier.strip():
            return CheckResult.PASSED
        return CheckResult.FAILED


check = ProductionFinalSnapshot()
