"""The claims index filled for tests and benchmarks: claims rendered as dbvend writes them, their
rows inserted in the ledger's claim_index as the index would hold them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import claim_from_raw, parse_claim
from engine.cost import estimate_monthly_cost
from engine.gitops import GitOpsBackend
from engine.store.ledger import Ledger
from engine.store.records import now_text
from engine.store.schema import claim_index

ENVIRONMENTS = ("dev", "staging", "prod")
TEAMS = ("data", "shop", "search", "")
START = datetime(2026, 11, 1, tzinfo=UTC)


def render_claims(size: int, start: datetime = START) -> dict[str, str]:
    """`size` claims by root: environments, teams, owners and engines in turn; one in six (in prod) has
    no expiry, the others expire a few minutes apart (in an order other than their names')."""
    catalog = parse_catalog(default_catalog_text())
    claims = {}
    for n in range(size):
        raw: dict[str, Any] = {
            "database_name": f"db{n:05d}",
            "database_engine": ("postgres", "mysql")[n % 2],
            "environment": ENVIRONMENTS[n % 3],
            "owner": f"owner{n % 5}",
        }
        if TEAMS[n % 4]:
            raw["team"] = TEAMS[n % 4]
        if n % 6 == 5:  # in prod, where a database may live on
            raw["ttl"] = "none"
        accepted = start + timedelta(minutes=(n * 7919) % (size + 1))
        claim = claim_from_raw(raw, catalog, f"req-{n}", accepted)
        claims[f"terraform/{claim.environment}/{claim.request.identifier}"] = claim.to_json()
    return claims


def index_row(root: str, text: str, commit: str = "0" * 40) -> dict[str, Any]:
    """The claim_index row of one claim, as the index keeps it."""
    claim = parse_claim(text)
    _, environment, identifier = root.split("/")
    return {
        "root": root,
        "environment": environment,
        "identifier": identifier,
        "blob_oid": hashlib.sha1(f"blob {len(text.encode())}\0{text}".encode()).hexdigest(),
        "commit_oid": commit,
        "claim": text,
        "expires_at": claim.expires_at,
        "engine": claim.request.database_engine,
        "owner": claim.request.owner,
        "team": claim.request.team,
        "monthly_usd": estimate_monthly_cost(claim).monthly_usd,
        "indexed_at": now_text(),
    }


def index_claims(ledger: Ledger, claims: Mapping[str, str]) -> None:
    """The index holding exactly these claims."""
    with ledger.transaction() as connection:
        connection.execute(claim_index.delete())
        if claims:
            connection.execute(claim_index.insert(), [index_row(root, text) for root, text in claims.items()])


def fill_index(ledger: Ledger, backend: GitOpsBackend) -> None:
    """The index brought up to the backend's main: by engine.claim_index when it exists, else by
    reading every claim (what the reconcile pass does, without its shortcuts)."""
    try:
        from engine.claim_index import reconcile_index  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        index_claims(ledger, backend.claims())
        return
    reconcile_index(ledger, backend)
