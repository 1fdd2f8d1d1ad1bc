"""The pure trust rules (engine.webhooks.trust, engine.gitops.not_own_change) on GitHub's examples."""

from __future__ import annotations

import pytest

from engine.gitops import RepositoryIdentity, not_own_change
from engine.webhooks.trust import foreign
from tests.support.deliveries import moved
from tests.support.octokit import example, require_octokit

IDENTITY = RepositoryIdentity("acme/infra", "main", id=101, installation_id=4242)


@pytest.fixture(autouse=True)
def _octokit() -> None:
    require_octokit()


def test_a_delivery_counts_only_with_this_name_id_and_installation() -> None:
    ours = moved(example("issues", "opened"), "acme/infra", 101, installation_id=4242)
    assert foreign("issues", ours, IDENTITY) is None
    assert foreign("issues", moved(example("issues", "opened"), "ACME/Infra", 101, 4242), IDENTITY) is None
    assert "installation 999" in (foreign("issues", {**ours, "installation": {"id": 999}}, IDENTITY) or "")
    assert "id 102" in (
        foreign("issues", moved(example("issues", "opened"), "acme/infra", 102, 4242), IDENTITY) or ""
    )
    assert "octo-org/octo-repo" in (
        foreign("issues", moved(ours, "octo-org/octo-repo", 101, 4242), IDENTITY) or ""
    )
    assert "without a repository" in (foreign("issues", {"action": "opened"}, IDENTITY) or "")


def test_installation_events_are_checked_by_installation() -> None:
    deleted = example("installation", "deleted")
    assert "not 4242" in (foreign("installation", deleted, IDENTITY) or "")
    assert (
        foreign(
            "installation", {**deleted, "installation": {**deleted["installation"], "id": 4242}}, IDENTITY
        )
        is None
    )
    assert foreign("ping", example("ping", None, 3), IDENTITY) is None  # the App's own ping: no repository


@pytest.mark.parametrize(
    ("branch", "head", "body", "why"),
    [
        ("dbvend/dev/orders", "mallory/infra", "<!-- dbvend:request-id=r1 -->", "mallory/infra"),
        ("dbvend/dev/orders", None, "<!-- dbvend:request-id=r1 -->", "deleted repository"),
        ("feature/x", "acme/infra", "<!-- dbvend:request-id=r1 -->", "not a dbvend branch"),
        ("dbvend/dev/orders", "acme/infra", "no marker", "no dbvend change marker"),
        ("dbvend/dev/orders.extend-1", "acme/infra", "<!-- dbvend:request-id=r1 -->", "another change"),
        ("dbvend/dev/orders", "acme/infra", "<!-- dbvend:request-id=r1.destroy-1 -->", "another change"),
    ],
)
def test_not_own_change_says_why(branch: str, head: str | None, body: str, why: str) -> None:
    assert why in (not_own_change(branch, head, body, "acme/infra") or "")


def test_dbvends_own_changes_pass() -> None:
    assert (
        not_own_change("dbvend/dev/orders", "Acme/Infra", "x <!-- dbvend:request-id=r1 -->", "acme/infra")
        is None
    )
    body = "<!-- dbvend:request-id=r1.extend-2 -->"
    assert not_own_change("dbvend/dev/orders.extend-2", "acme/infra", body, "acme/infra") is None
    # a new attempt after a closed one: <kind>-<the closed change's id> (engine.lifecycle._past_closed)
    body = "<!-- dbvend:request-id=r1.extend-2-14 -->"
    assert not_own_change("dbvend/dev/orders.extend-2-14", "acme/infra", body, "acme/infra") is None
