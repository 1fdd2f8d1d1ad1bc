"""The doors' side of the access rules: what they know of a database (its Holder), the one decision
(engine.access.decide), and a refusal recorded in the audit trail before it is raised."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from engine.access import AccessRules, Holder, decide, may_see_all, teams_to_check
from engine.audit import AuditEvent
from engine.claim import Claim
from engine.errors import NotAllowed
from engine.identity import Actor, person
from engine.store.claim_queries import IndexedRow
from engine.store.ledger import Ledger
from engine.store.records import RequestRecord

T = TypeVar("T")


def holder_of(record: RequestRecord | None, claim: Claim | None = None) -> Holder:
    """Who holds a database: its requester from the ledger; owner and team from its claim on main
    when read (a modification may have changed them), else from the request."""
    requested_by = record.requester if record is not None else None
    if claim is not None:
        return Holder(requested_by, claim.request.owner, claim.request.team, claim.identifier)
    if record is None:
        return Holder(None, None, None)
    team = record.payload.get("team")
    return Holder(requested_by, record.owner, team if isinstance(team, str) else None, record.identifier)


def enforce(
    rules: AccessRules,
    actor: Actor,
    action: str,
    environment: str,
    holder: Holder | None = None,
    ledger: Ledger | None = None,
) -> None:
    """NotAllowed (403) when the rules refuse `actor` the `action`, recorded in the audit trail."""
    decision = decide(rules, actor, action, environment, holder)
    if decision.allowed:
        return
    if ledger is not None:
        identifier = holder.identifier if holder is not None else None
        ledger.audit(
            AuditEvent.by(
                actor,
                action,
                "refused",
                environment=environment,
                identifier=identifier,
                detail=decision.reason,
            )
        )
    refused = NotAllowed(decision.reason)
    refused.audited = ledger is not None
    raise refused


def shown_to(rules: AccessRules, actor: Actor) -> Callable[[RequestRecord], bool] | None:
    """Which requests a list shows `actor`: None for all (dbvend.yaml's access.fleet is everyone,
    or the actor is an admin), else the test each must pass."""
    return _shown(rules, actor, lambda record: (record.environment, holder_of(record)))


def rows_shown_to(rules: AccessRules, actor: Actor) -> Callable[[IndexedRow], bool] | None:
    """The same for the claims index's rows (the fleet's pages and totals)."""
    return _shown(rules, actor, lambda row: (row.environment, row.holder))


def _shown(
    rules: AccessRules, actor: Actor, where: Callable[[T], tuple[str, Holder]]
) -> Callable[[T], bool] | None:
    if may_see_all(rules, actor):
        return None
    return lambda item: decide(rules, actor, "view", *where(item)).allowed


def github_person(
    rules: AccessRules,
    login: str,
    door: str,
    action: str,
    environment: str,
    holder: Holder | None,
    teams_of: Callable[[str, Collection[str]], frozenset[str]],
    permission_of: Callable[[str], str],
) -> Actor:
    """A GitHub user at a door that must ask GitHub about them (an issue's author, a commenter):
    asked nothing when the rules allow them as they are (teams and a permission only ever add
    rights), else their permission and only the teams that could change the answer."""
    bare = person(login, door)
    if decide(rules, bare, action, environment, holder).allowed:
        return bare
    wanted = teams_to_check(rules, action, environment, holder)
    return person(login, door, teams_of(login, wanted) if wanted else (), permission_of(login))
