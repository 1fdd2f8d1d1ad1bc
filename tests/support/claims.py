"""Claims and rendered roots as the tests make them: every engine, environment and option, accepted at
a fixed time; a hand edit of a rendered file; strings no HCL literal may change."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from engine.catalog import Catalog
from engine.claim import Claim, claim_from_raw
from engine.render import RenderedRoot
from engine.spec import ENGINES

ACCEPTED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
# The request most tests make (the seed contract of POST /provision-rds).
SEED = {"database_name": "mydb123", "database_engine": "mysql", "environment": "prod"}
ENVIRONMENTS = ("dev", "staging", "prod")


# A restore of each kind: a snapshot (a final one, as dbvend names them), a point in time, the latest.
RESTORES = (
    {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"},
    {"database": "prod/orders", "point_in_time": "2026-11-22T21:00:00Z"},
    {"database": "prod/orders", "point_in_time": "latest"},
)


def options_for(engine: str, env: str, catalog: Catalog) -> list[dict[str, Any]]:
    """Every option a request can carry for this engine, one variation at a time, plus all at once."""
    limits = catalog.environments[env]
    # A destroy-protected environment takes no time-to-live at all (only "none").
    ttl = {} if limits.destroy_protected else {"ttl": "12h"}
    timed = [] if limits.destroy_protected else [{"ttl": "12h"}, {"ttl": "3d"}]
    common: list[dict[str, Any]] = [{}, {"size": "medium"}, {"size": "large"}, *timed]
    common.append(
        {"owner": "alice@example.com", "team": "Data Platform", "reason": "Q3 report (EU), urgent!"}
    )
    if limits.ttl.max is None:
        common.append({"ttl": "none"})
    common += [{"restore_from": restore} for restore in RESTORES]
    if engine.startswith("aurora"):
        readers = [{"readers": n} for n in range(limits.aurora.max_readers + 1)]
        acu = [{"min_acu": 0.5, "max_acu": limits.aurora.max_acu}, {"min_acu": 1, "max_acu": 2.5}]
        everything = {
            "readers": limits.aurora.max_readers,
            "proxy": True,
            "min_acu": 1,
            "max_acu": 2,
            **ttl,
            "owner": "bob",
            "team": "Search",
        }
        return [*common, *readers, *acu, {"proxy": True}, {"proxy": False}, everything]
    storage = [{"storage_gb": limits.storage.min_gb}, {"storage_gb": limits.storage.max_gb}]
    everything = {"size": "large", "storage_gb": limits.storage.max_gb, **ttl, "owner": "carol"}
    return [*common, *storage, everything]


def matrix(catalog: Catalog) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (engine, env, opts)
        for engine, env in itertools.product(ENGINES, ENVIRONMENTS)
        for opts in options_for(engine, env, catalog)
    ]


def claim_for(catalog: Catalog, engine: str, env: str, opts: dict[str, Any], name: str = "orders") -> Claim:
    raw = {"database_name": name, "database_engine": engine, "environment": env, **opts}
    return claim_from_raw(raw, catalog, "3f2b8c1e-0000-4000-8000-000000000001", ACCEPTED_AT)


NASTY_STRINGS = [
    "plain", "${var.secret}", "%{ if true }x%{ endif }", "$${already}", "$$${x}", 'say "hi"', "back\\slash",
    "trail\\", "new\nline", "tab\there", "cr\rhere", "\x00nul", "\x1b[31m", "\u2028sep", "unicode é 名前",
    "${", "%{", "$", "%", "}", "<<EOF",
]  # fmt: skip


def tampered(rendered: RenderedRoot, old: str, new: str) -> str:
    text = rendered.files["main.tf"]
    assert old in text
    return text.replace(old, new, 1)
