"""engine.clone: a clone's body -> the request that copies a database (restored from its latest time)."""

from __future__ import annotations

import pytest

from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import Claim, claim_from_raw
from engine.clone import as_clone_refusal, clone_fields
from engine.errors import FieldError, InvalidRequest
from tests.support.claims import ACCEPTED_AT


def source(**fields: object) -> Claim:
    raw = {"database_name": "orders", "database_engine": "postgres", "environment": "staging", **fields}
    return claim_from_raw(raw, parse_catalog(default_catalog_text()), "req-s", ACCEPTED_AT)


def test_a_clone_copies_engine_version_name_and_storage_and_asks_its_own_ttl() -> None:
    fields = clone_fields(source(owner="ann", ttl="10d"), {"to_environment": "dev", "name": "orders_PR12"})
    assert fields == {
        "database_name": "orders",
        "identifier": "orders-pr12",
        "database_engine": "postgres",
        "engine_version": "17",
        "environment": "dev",
        "restore_from": {"database": "staging/orders", "point_in_time": "latest"},
        "reason": "clone of staging/orders",
        "storage_gb": 20,
        "owner": "ann",  # the source's, unless the clone names its own
    }  # no ttl: the target environment's default, not the source's 10d
    own = clone_fields(
        source(owner="ann"), {"to_environment": "dev", "name": "x", "ttl": "2d", "owner": "bo"}
    )
    assert own["ttl"] == "2d" and own["owner"] == "bo"
    aurora = clone_fields(source(database_engine="aurora-postgresql"), {"to_environment": "dev", "name": "a"})
    assert "storage_gb" not in aurora  # Aurora's storage is no setting


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"to_environment", "name"}),
        ({"to_environment": "dev", "name": "x", "size": "large"}, {"size"}),
        ({"to_environment": 3, "name": ""}, {"to_environment", "name"}),
        ({"to_environment": "dev", "name": "1orders"}, {"name"}),
        ({"to_environment": "dev", "name": "o" * 65}, {"name"}),
        ({"to_environment": "dev", "name": "x", "ttl": 2}, {"ttl"}),
    ],
)
def test_a_wrong_body_is_refused_naming_each_field(body: dict[str, object], fields: set[str]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        clone_fields(source(), body)
    assert refused.value.fields == fields and refused.value.detail == "invalid clone"


def test_a_refusal_of_the_copy_names_the_clones_own_fields() -> None:
    refused = InvalidRequest([FieldError("environment", "unknown"), FieldError("identifier", "taken")])
    assert as_clone_refusal(refused).fields == {"to_environment", "name"}
