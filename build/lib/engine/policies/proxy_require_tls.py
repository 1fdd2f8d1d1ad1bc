"""CKV_DBV_11: clients reach the database through RDS Proxy over TLS only."""

from __future__ import annotations

from typing import Any

from _context import as_bool, value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class ProxyRequireTls(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="RDS Proxy requires TLS",
            id="CKV_DBV_11",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_db_proxy"],
            guideline="Set require_tls = true on the aws_db_proxy.",
        )
        self.severity = Severities[BcSeverities.HIGH]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["require_tls"]
        if as_bool(value_of(conf, "require_tls")) is True:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = ProxyRequireTls()
