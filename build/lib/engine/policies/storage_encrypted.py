"""CKV_DBV_5: storage is encrypted at rest."""

from __future__ import annotations

from typing import Any

from _context import as_bool, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class StorageEncrypted(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Database storage is encrypted at rest",
            id="CKV_DBV_5",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_db_instance", "aws_rds_cluster"],
            guideline="Set storage_encrypted = true (it cannot be turned on for an existing database later).",
        )
        self.severity = Severities[BcSeverities.HIGH]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["storage_encrypted"]
        if as_bool(value_of(conf, "storage_encrypted")) is True:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = StorageEncrypted()
