"""engine.gitops.conflict: the one rule both backends call, decided on what they read (a Sighting)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.catalog import Catalog
from engine.claim import Claim, claim_from_raw
from engine.gitops import BranchFound, Sighting, change_key, conflict

KEY = "req-1"


@pytest.fixture(scope="module")
def claim(catalog: Catalog) -> Claim:
    raw = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
    return claim_from_raw(raw, catalog, KEY, datetime(2026, 12, 1, tzinfo=UTC))


def seen(
    kind: str | None = None,
    on_main: bool = False,
    branch_key: str | None = "none",
    mine: int | None = None,
) -> Sighting:
    """A reading for change key req_1[.kind]; branch_key "none": no branch at all."""
    branch = None if branch_key == "none" else BranchFound("c0ffee", branch_key, "in open change #9")
    return Sighting(change_key(KEY, kind), "main", "abc123", on_main, branch, mine)


CASES = [
    # kind, on main, the branch's key, this key's change, -> the Conflict's text or None
    (None, False, "none", None, None),  # free: a new request goes ahead
    (None, True, "none", None, "database dev/orders already exists on main (terraform/dev/orders)"),
    (None, False, "req-2", None, "database dev/orders is already requested in open change #9"),
    (None, False, None, None, "database dev/orders is already requested in open change #9"),  # not dbvend's
    (None, False, KEY, None, None),  # this request's branch, made before a crash
    (None, True, "req-2", 4, None),  # a redelivery: its change #4 exists, whatever happened since
    ("extend-2", True, "none", None, None),
    ("extend-2", False, "none", None, "database dev/orders is not on main: its request must be merged first"),
    (
        "extend-2",
        True,
        "req-2.extend-1",
        None,
        "an extension of database dev/orders is already requested in open change #9",
    ),
    ("destroy", True, f"{KEY}.destroy", None, None),
    ("destroy", True, "none", 11, None),
    (
        "destroy",
        True,
        "req-2.destroy",
        None,
        "a destruction of database dev/orders is already requested in open change #9",
    ),
]


@pytest.mark.parametrize(("kind", "on_main", "branch_key", "mine", "refusal"), CASES)
def test_the_conflict_rule(
    claim: Claim,
    kind: str | None,
    on_main: bool,
    branch_key: str | None,
    mine: int | None,
    refusal: str | None,
) -> None:
    found = conflict(claim, kind, seen(kind, on_main, branch_key, mine))
    assert (str(found) if found else None) == refusal
