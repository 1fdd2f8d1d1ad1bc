"""CKV_DBV_2: no password in Terraform; RDS manages the master password in Secrets Manager."""

from __future__ import annotations

from typing import Any

from _context import as_bool, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

# Write-only variants (*_wo) still put the secret in the configuration and its variables.
PASSWORD_ATTRIBUTES = ("password", "password_wo", "master_password", "master_password_wo")


class NoPassword(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Database master password is managed by RDS in Secrets Manager, never set in Terraform",
            id="CKV_DBV_2",
            categories=[CheckCategories.SECRETS],
            supported_resources=["aws_db_instance", "aws_rds_cluster"],
            guideline="Remove password/master_password (and their _wo forms) and set "
            "manage_master_user_password = true.",
        )
        self.severity = Severities[BcSeverities.CRITICAL]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = [*PASSWORD_ATTRIBUTES, "manage_master_user_password"]
        present = [name for name in PASSWORD_ATTRIBUTES if name in conf]
        if present:
            self.details.append("password attributes set: " + ", ".join(present))
            return CheckResult.FAILED
        if as_bool(value_of(conf, "manage_master_user_password")) is not True:
            self.details.append("manage_master_user_password is not true")
            return CheckResult.FAILED
        return CheckResult.PASSED


check = NoPassword()
