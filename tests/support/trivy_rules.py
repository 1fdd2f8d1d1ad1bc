"""Trivy's misconfiguration report: parsed, each finding matched to the checkov check of the same rule.

dbvend.yaml's policy.skip names checkov's ids, so a trivy finding is explained by the skip of
its checkov twin. Each pair below was read against both sources: trivy's embedded Rego check
(its `deny` rules and METADATA) and checkov's check class (supported resources, inspected key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from engine.catalog import PolicyRules, PolicySkip

_INSTANCE: Final = frozenset({"aws_db_instance"})
_CLUSTER: Final = frozenset({"aws_rds_cluster"})
_ANY_INSTANCE: Final = frozenset({"aws_db_instance", "aws_rds_cluster_instance"})


@dataclass(frozen=True)
class SameRule:
    """A trivy check and the checkov check that fails the same resources for the same reason."""

    trivy_id: str
    checkov_id: str
    resource_types: frozenset[str]  # the types both checks inspect
    message: str = ""  # when one trivy check is two checkov rules: the start of its message


SAME_RULES: Final[tuple[SameRule, ...]] = (
    # kms_key_id on a log group: aws0017 (cloudwatch), CKV_AWS_158 (CloudWatchLogGroupKMSKey).
    SameRule("AWS-0017", "CKV_AWS_158", frozenset({"aws_cloudwatch_log_group"})),
    # aws0078 fails an instance with Performance Insights on and no performance_insights_kms_key_id;
    # CKV_AWS_354 (RDSInstancePerfInsightsEncryptionWithCMK) the same.
    SameRule("AWS-0078", "CKV_AWS_354", _ANY_INSTANCE),
    # aws0079 has two deny rules: storage_encrypted not true (CKV_AWS_96, AuroraEncryption) and,
    # with it true, no kms_key_id (CKV_AWS_327, RDSClusterEncryptedWithCMK).
    SameRule("AWS-0079", "CKV_AWS_96", _CLUSTER, "Cluster does not have storage encryption enabled"),
    SameRule("AWS-0079", "CKV_AWS_327", _CLUSTER, "Cluster does not specify a customer managed key"),
    # storage_encrypted on an instance: aws0080, CKV_AWS_16 (RDSEncryption).
    SameRule("AWS-0080", "CKV_AWS_16", _INSTANCE),
    # performance_insights_enabled: aws0133, CKV_AWS_353 (which says UNKNOWN for MySQL on the
    # classes without Performance Insights, where trivy still fails).
    SameRule("AWS-0133", "CKV_AWS_353", _ANY_INSTANCE),
    # iam_database_authentication_enabled on postgres and mysql instances: aws0176, CKV_AWS_161.
    # (aws0176 does not look at clusters, so CKV_AWS_162 has no trivy twin.)
    SameRule("AWS-0176", "CKV_AWS_161", _INSTANCE),
    # deletion_protection: instances aws0177 / CKV_AWS_293, clusters aws0343 / CKV_AWS_139.
    SameRule("AWS-0177", "CKV_AWS_293", _INSTANCE),
    SameRule("AWS-0343", "CKV_AWS_139", _CLUSTER),
    # publicly_accessible: aws0180, CKV_AWS_17 (RDSPubliclyAccessible).
    SameRule("AWS-0180", "CKV_AWS_17", _ANY_INSTANCE),
    # No twin: aws0077 fails a backup_retention_period under 2 days; CKV_AWS_133 fails only 0
    # (or over 35), so one day passes checkov and fails trivy.
)


@dataclass(frozen=True)
class TrivyFinding:
    check_id: str  # AWS-0077; older trivy releases said AVD-AWS-0077
    title: str
    message: str
    severity: str
    resource: str  # aws_rds_cluster.this
    file: str  # relative to the scanned directory
    lines: tuple[int, int]

    @property
    def resource_type(self) -> str:
        return self.resource.split(".", 1)[0]


@dataclass(frozen=True)
class TrivyReport:
    version: str
    findings: tuple[TrivyFinding, ...]  # the failures
    checks: Mapping[
        str, str
    ]  # every check id reported (failed or, with --include-non-failures, passed): title
    targets: frozenset[str]  # every file and module directory trivy scanned


def parse_trivy_report(report: Mapping[str, Any]) -> TrivyReport:
    """`trivy config --format json` output (schema version 2)."""
    findings, checks, targets = [], {}, set()
    for result in report.get("Results") or []:
        targets.add(str(result.get("Target", "")))
        for item in result.get("Misconfigurations") or []:
            check_id = trivy_id(str(item["ID"]))
            checks[check_id] = str(item.get("Title") or "")
            if item.get("Status", "FAIL") != "FAIL":
                continue
            cause = item.get("CauseMetadata") or {}
            findings.append(
                TrivyFinding(
                    check_id=check_id,
                    title=str(item.get("Title") or ""),
                    message=str(item.get("Message") or ""),
                    severity=str(item.get("Severity") or ""),
                    resource=str(cause.get("Resource") or ""),
                    file=str(result.get("Target", "")),
                    lines=(int(cause.get("StartLine") or 0), int(cause.get("EndLine") or 0)),
                )
            )
    version = str((report.get("Trivy") or {}).get("Version", ""))
    return TrivyReport(version, tuple(findings), checks, frozenset(targets))


def trivy_id(check_id: str) -> str:
    """AWS-0077 for AVD-AWS-0077 too: trivy keeps the AVD- form as an alias."""
    return check_id.removeprefix("AVD-")


def checkov_twin(finding: TrivyFinding, rules: Sequence[SameRule] = SAME_RULES) -> str | None:
    """The checkov check of the same rule, if there is one."""
    for rule in rules:
        if (
            rule.trivy_id == finding.check_id
            and finding.resource_type in rule.resource_types
            and finding.message.startswith(rule.message)
        ):
            return rule.checkov_id
    return None


def skip_of(finding: TrivyFinding, rules: PolicyRules, environment: str, today: date) -> PolicySkip | None:
    """The skip in dbvend.yaml that covers this finding here: of its own id, else of its checkov twin."""
    skips = {skip.check_id: skip for skip in rules.skip}
    for check_id in (finding.check_id, checkov_twin(finding)):
        skip = skips.get(check_id) if check_id else None
        if skip is not None and skip.applies(environment, today):
            return skip
    return None
