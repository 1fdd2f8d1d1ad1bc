"""CKV_DBV_10: an Aurora Serverless v2 cluster scales no higher than its environment allows."""

from __future__ import annotations

from typing import Any

from _context import as_number, block_of, current_context, environment_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

SCALING = "serverlessv2_scaling_configuration"


class AuroraMaxAcu(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Aurora Serverless v2 max capacity is within the environment's max_acu in dbvend.yaml",
            id="CKV_DBV_10",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_rds_cluster"],
            guideline="Lower serverlessv2_scaling_configuration.max_capacity to at most the environment's "
            "aurora.max_acu in dbvend.yaml, and tag the cluster with a known environment.",
        )
        self.severity = Severities[BcSeverities.MEDIUM]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = [f"{SCALING}/[0]/max_capacity", "tags"]
        context = current_context()
        if not context.present:
            return CheckResult.UNKNOWN  # without dbvend.yaml's facts there is nothing to judge by
        environment = environment_of(conf)
        facts = context.facts(environment)
        if facts is None:
            self.details.append(f"unknown environment {environment!r}")
            return CheckResult.FAILED
        scaling = block_of(conf, SCALING)
        if scaling is None:
            return CheckResult.PASSED  # provisioned instances only: their classes are CKV_DBV_3's
        max_capacity = as_number(scaling.get("max_capacity"))
        if max_capacity is None or facts.max_acu is None or max_capacity > facts.max_acu:
            self.details.append(f"max_capacity {max_capacity} above {facts.max_acu} in {environment}")
            return CheckResult.FAILED
        return CheckResult.PASSED


check = AuroraMaxAcu()
