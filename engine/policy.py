"""The policy decision (pure): checkov's findings and dbvend.yaml's policy rules in; pass, warn or fail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from engine.catalog import Catalog, PolicyRules
from engine.errors import PolicyFailed


@dataclass(frozen=True)
class PolicyFinding:
    check_id: str
    name: str
    severity: str | None
    resource: str
    file: str
    lines: tuple[int, int]
    guideline: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyFinding:
        lines = list(data.get("lines") or [0, 0])
        return cls(
            check_id=str(data["check_id"]),
            name=str(data.get("name") or ""),
            severity=data.get("severity"),
            resource=str(data.get("resource") or ""),
            file=str(data.get("file") or ""),
            lines=(int(lines[0]), int(lines[-1])),
            guideline=data.get("guideline"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lines": list(self.lines)}


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[PolicyFinding, ...]
    passed: frozenset[str] = frozenset()
    parsing_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    finding: PolicyFinding
    reason: str


@dataclass(frozen=True)
class PolicyDecision:
    result: str  # pass, warn or fail
    failures: tuple[PolicyFinding, ...] = ()
    warnings: tuple[PolicyFinding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "failures": [f.as_dict() for f in self.failures],
            "warnings": [f.as_dict() for f in self.warnings],
            "skipped": [{**s.finding.as_dict(), "reason": s.reason} for s in self.skipped],
            "notes": list(self.notes),
        }

    def refusal(self) -> PolicyFailed:
        """What a failing decision raises: each failure named with its resource and lines."""
        named = [
            f"policy {f.check_id} {f.name} ({f.resource}, {f.file} lines {f.lines[0]}-{f.lines[1]})"
            for f in self.failures
        ]
        return PolicyFailed(named + [f"policy: {note}" for note in self.notes], self)


# -- deciding (pure) ---------------------------------------------------------------------


def decide(scan: ScanResult, rules: PolicyRules, environment: str, today: date) -> PolicyDecision:
    """pass / warn / fail from the findings and dbvend.yaml's policy rules."""
    failures, warnings, skipped, notes = [], [], [], []
    skips = {skip.check_id: skip for skip in rules.skip}
    for finding in scan.findings:
        skip = skips.get(finding.check_id)
        if skip is not None and skip.applies(environment, today):
            skipped.append(Skipped(finding, skip.reason))
            continue
        if skip is not None and skip.expires is not None and today > skip.expires:
            note = f"the skip of {finding.check_id} expired on {skip.expires.isoformat()}"
            if note not in notes:
                notes.append(note)
        if finding.check_id in rules.fail:
            failures.append(finding)
        elif finding.check_id in rules.warn or rules.default == "warn":
            warnings.append(finding)
        else:
            failures.append(finding)
    for error in scan.parsing_errors:
        notes.append(f"checkov could not parse {error}")
    # An unparsed file was not checked: never a pass.
    result = "fail" if failures or scan.parsing_errors else "warn" if warnings else "pass"
    return PolicyDecision(result, tuple(failures), tuple(warnings), tuple(skipped), tuple(notes))


def unknown_check_ids(rules: PolicyRules, known: Mapping[str, str]) -> list[str]:
    return sorted(rules.check_ids() - set(known))


def policy_context(catalog: Catalog) -> dict[str, Any]:
    """What the organisation's policies need to know of dbvend.yaml (DBVEND_POLICY_CONTEXT)."""
    return {
        "environments": {
            name: {
                "instance_classes": list(env.instance_class_allow_list),
                "max_acu": env.aurora.max_acu,
                "production": env.production,
            }
            for name, env in catalog.environments.items()
        }
    }
