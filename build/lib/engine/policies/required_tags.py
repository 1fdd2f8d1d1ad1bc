"""CKV_DBV_1: every database resource carries dbvend's tags; outside production also expires-at."""

from __future__ import annotations

from typing import Any

from _context import current_context, environment_of, tags_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ALWAYS = ("owner", "environment", "request-id", "managed-by")
EXPIRY = "expires-at"


class RequiredTags(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Database resources carry the owner, environment, request-id, managed-by "
            "(and outside production expires-at) tags",
            id="CKV_DBV_1",
            categories=[CheckCategories.CONVENTION],
            supported_resources=[
                "aws_db_instance",
                "aws_rds_cluster",
                "aws_rds_cluster_instance",
                "aws_db_proxy",
            ],
            guideline="Set tags owner, environment, request-id and managed-by, plus expires-at (RFC 3339) "
            "unless the environment is production; dbvend render sets them all.",
        )
        self.severity = Severities[BcSeverities.MEDIUM]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["tags"]
        tags = tags_of(conf) or {}
        required = list(ALWAYS)
        # Strict both ways: expires-at may be left out only where production is certain.
        if not current_context().known_production(environment_of(conf)):
            required.append(EXPIRY)
        missing = [name for name in required if not _has_value(tags.get(name))]
        if missing:
            self.details.append("missing tags: " + ", ".join(missing))
            return CheckResult.FAILED
        return CheckResult.PASSED


def _has_value(value: Any) -> bool:
    """A set tag: any non-empty text, an unresolved expression (`var.owner`) included."""
    return isinstance(value, str) and bool(value.strip())


check = RequiredTags()
