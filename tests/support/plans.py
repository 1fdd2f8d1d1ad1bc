"""Terraform plans recorded in tests/data/plans/, summarised as dbvend reads them."""

from __future__ import annotations

import json

from engine.summary import PlanSummary, summarize_plan
from tests.support.paths import PLANS


def plan(name: str) -> PlanSummary:
    return summarize_plan(json.loads((PLANS / f"{name}.json").read_text()))
