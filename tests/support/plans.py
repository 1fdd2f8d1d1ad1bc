"""Terraform plans recorded in tests/data/plans/, summarised as dbvend reads them."""

from __future__ import annotations

import json
from typing import Any

from engine.summary import PlanSummary, summarize_plan
from tests.support.paths import PLANS


def plan(name: str) -> PlanSummary:
    return summarize_plan(json.loads((PLANS / f"{name}.json").read_text()))


# The recorded plans every report test renders.
RECORDED = ("create_root", "update_class_storage", "replace_cluster", "delete_root", "noop", "unknown_values")
# Values that are in the recorded plans (Terraform's JSON carries secrets in clear) and must never be shown.
SECRETS = ("Pa55word-do-not-leak", "CC-4471-confidential", "CC-9902-confidential")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS / f"{name}.json").read_text())
    return data


def change(
    actions: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    rtype: str = "aws_rds_cluster",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "address": f"{rtype}.this",
        "mode": "managed",
        "type": rtype,
        "name": "this",
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}, **extra},
    }


def plan_of(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": "1.2", "resource_changes": list(changes)}
