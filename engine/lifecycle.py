"""After a database exists: extending its time-to-live, changing it, proposing its destruction. Each a change.

An extension, a modification (engine.modify) and a destroy change are changes like the request's
own: one small commit on a branch of their own (dbvend/<env>/<id>.extend-<n>, .modify-<n>,
dbvend/<env>/<id>.destroy-<n>) updating the claim, found again by the request id and kind, so a
retried call or a second sweep makes nothing twice. The claim is read from main, never from HCL;
the rules live in engine.ttl and engine.modify (pure).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.engine import Connection

from engine.access import AccessRules
from engine.audit import AuditEvent
from engine.checkov.gate import PolicyGate
from engine.claim import Claim, extended, marked_for_destroy, parse_claim
from engine.cost import estimate_monthly_cost
from engine.description import change_title, describe_destroy, describe_extension, describe_modification
from engine.errors import (
    CheckFailed,
    Conflict,
    DatabaseNotFound,
    DbvendError,
    FieldError,
    InvalidRequest,
    NotAllowed,
)
from engine.gitops import Change, GitOpsBackend, Proposal, branch_name
from engine.guard import enforce, holder_of
from engine.hcl import run_checks
from engine.identity import Actor, system
from engine.modify import Modification, modify_claim
from engine.pipeline import prepare
from engine.render import RenderedRoot, render_claim
from engine.roots import Root
from engine.spec import parse_ttl, reason_errors
from engine.store.ledger import Ledger
from engine.ttl import extend, lease_of

log = logging.getLogger("dbvend.lifecycle")
_ATTEMPTS: Final = 20


@dataclass(frozen=True)
class Extension:
    change: Change
    claim: Claim  # as the extension change writes it
    previous_expiry: str | None


def current_claim(backend: GitOpsBackend, environment: str, identifier: str) -> tuple[Claim, str]:
    """The database's claim on the default branch, and its text; DatabaseNotFound when it has none."""
    path = Root(environment, identifier).file("request.json")
    text = backend.read_file(None, path)
    if text is None:
        where = backend.default_branch()
        raise DatabaseNotFound(f"no database {environment}/{identifier} on {where} ({path})")
    return parse_claim(text), text


def extend_database(
    backend: GitOpsBackend,
    environment: str,
    identifier: str,
    ttl_text: str,
    now: datetime,
    actor: Actor,
    ledger: Ledger | None = None,
    terraform: str | None = None,
) -> Extension:
    """Open the change that extends a database's time-to-live to `now + ttl`.

    Within the environment's maximum (from acceptance) and its number of extensions;
    InvalidRequest (field `ttl`) names the rule that refuses; NotAllowed when dbvend.yaml's access
    rules do not let `actor` extend it. Done or refused, it is in the audit trail.
    """
    with _audited(ledger, actor, "extend", environment, identifier):
        return _extend(backend, environment, identifier, ttl_text, now, actor, ledger, terraform)


def _extend(
    backend: GitOpsBackend,
    environment: str,
    identifier: str,
    ttl_text: str,
    now: datetime,
    actor: Actor,
    ledger: Ledger | None,
    terraform: str | None,
) -> Extension:
    try:
        ttl = parse_ttl(ttl_text)
    except ValueError as exc:
        raise InvalidRequest([FieldError("ttl", str(exc))]) from None
    if ttl is None:
        raise InvalidRequest([FieldError("ttl", "`none` is not an extension: say how long, such as 3d")])
    claim, text = current_claim(backend, environment, identifier)
    catalog = backend.catalog()
    allow(catalog.access, actor, "extend", claim, ledger)
    if claim.destroy_requested_at is not None:
        raise InvalidRequest([FieldError("ttl", f"{claim.root} is being destroyed; it cannot be extended")])
    env = catalog.environments.get(claim.environment)
    if env is None:
        raise InvalidRequest([FieldError("environment", f"{claim.environment} is no longer in dbvend.yaml")])
    new_expiry = extend(lease_of(claim.root, text), ttl, now, env.ttl, claim.extensions)
    after = extended(claim, new_expiry)
    # Both rewrite request.json: an extension waits for an open modification (a destroy change
    # does not stop one: extending is how its database is kept).
    _refuse_other_open_changes(backend, after, f"extend-{after.extensions}", blocking=("modify-",))
    rendered = render_claim(after)
    checks = run_checks(rendered, after, terraform)
    failures = [f"{c.name}: {c.detail}" for c in checks if c.failed]
    if failures:
        raise CheckFailed(failures)
    title = f"{change_title(after)}: extend until {after.expires_at}"
    description = describe_extension(claim, after, actor.label, checks)
    change = _open_extension(backend, rendered, after, title, description)
    known = ledger is not None and ledger.get(claim.request_id) is not None
    if known and ledger is not None and ledger.first_time(f"extension:{change.request_id}", "extension"):
        said = f"extension to {after.expires_at} asked by {actor.label}: change #{change.id}"
        with ledger.transaction() as connection:
            ledger.note(claim.request_id, said, connection)
            audit_claim(ledger, actor, "extend", claim, said, connection)
    log.info("extension of %s to %s: change #%d", claim.root, after.expires_at, change.id)
    return Extension(change, after, claim.expires_at)


def _open_extension(
    backend: GitOpsBackend, rendered: RenderedRoot, after: Claim, title: str, description: str
) -> Change:
    """The extension's change, kind extend-<n>: the same call again finds it (a retry), a different
    extension while it is open is a Conflict, and one closed unmerged makes way for a new attempt
    (kind extend-<n>-<closed change's id>, so that too is found again)."""
    change = _past_closed(
        lambda kind: backend.open_change(Proposal(rendered, after, title, description, kind)),
        f"extend-{after.extensions}",
        f"{after.root}: {_ATTEMPTS} extensions",
    )
    if change.status == "merged" or change.title != title:
        where = f"{after.environment}/{after.identifier}"
        raise Conflict(
            f"an extension of {where} is already open in change #{change.id} ({change.title}): "
            "merge or close it first"
        )
    return change


@dataclass(frozen=True)
class Modified:
    change: Change
    modification: Modification  # the claim the change writes, and what each field does to the database


def modify_database(
    backend: GitOpsBackend,
    environment: str,
    identifier: str,
    fields: Mapping[str, object],
    now: datetime,
    actor: Actor,
    gate: PolicyGate,
    ledger: Ledger | None = None,
    terraform: str | None = None,
) -> Modified:
    """Open the change that modifies a database on main (engine.modify: size, storage, engine version,
    Aurora capacity, readers, proxy, owner, team), checked and gated like a new request.

    InvalidRequest names each field refused; Conflict while another change of the database is open
    (one at a time: its extension, destruction or another modification). The same call again finds
    the same change. Done or refused, it is in the audit trail.
    """
    with _audited(ledger, actor, "modify", environment, identifier):
        return _modify(backend, environment, identifier, fields, now, actor, gate, ledger, terraform)


def _modify(
    backend: GitOpsBackend,
    environment: str,
    identifier: str,
    fields: Mapping[str, object],
    now: datetime,
    actor: Actor,
    gate: PolicyGate,
    ledger: Ledger | None,
    terraform: str | None,
) -> Modified:
    claim, _ = current_claim(backend, environment, identifier)
    catalog = backend.catalog()
    allow(catalog.access, actor, "modify", claim, ledger)
    modification = modify_claim(claim, fields, catalog)
    after = modification.claim
    kind = f"modify-{after.modifications}"
    _refuse_other_open_changes(backend, after, kind)
    outcome = prepare(after, catalog, gate, terraform, now.date())
    changed = ", ".join(f"{e.field} {e.after}" for e in modification.effects)
    short = changed if len(changed) <= 120 else changed[:119] + "…"
    title = f"{change_title(after)}: change {short}"
    description = describe_modification(claim, modification, actor.label, outcome.checks, outcome.policy)
    change = _past_closed(
        lambda attempt: backend.open_change(Proposal(outcome.rendered, after, title, description, attempt)),
        kind,
        f"{after.root}: {_ATTEMPTS} modifications",
    )
    written = backend.read_file(change.commit, Root(environment, identifier).file("request.json"))
    if change.status == "merged" or written != after.to_json():
        raise Conflict(
            f"a modification of {environment}/{identifier} is already open in change #{change.id} "
            f"({change.title}): merge or close it first"
        )
    backend.report_checks(change, outcome.policy)
    noted = f"modification:{change.request_id}:{change.id}"
    if (
        ledger is not None
        and ledger.get(claim.request_id) is not None
        and ledger.first_time(noted, "modification")
    ):
        with ledger.transaction() as connection:
            said = f"modification ({changed}) asked by {actor.label}: change #{change.id}"
            ledger.note(claim.request_id, said, connection)
            audit_claim(ledger, actor, "modify", claim, said, connection)
            ledger.notify("modify_open", claim.request_id, said, change.link, connection=connection)
    log.info("modification of %s (%s): change #%d", claim.root, changed, change.id)
    return Modified(change, modification)


def _refuse_other_open_changes(
    backend: GitOpsBackend, claim: Claim, kind: str, blocking: tuple[str, ...] = ()
) -> None:
    """One open change per database: Conflict naming another open change of it (of the kinds in
    `blocking`, or of any kind when it is empty), unless this very change is open already (a
    retry: found again by open_change)."""
    prefix = branch_name(claim.environment, claim.identifier) + "."
    mine = prefix + kind
    held = [
        change
        for change in backend.open_changes_of(claim.environment, claim.identifier)
        if change.branch.startswith(prefix)
        and (not blocking or change.branch.removeprefix(prefix).startswith(blocking))
    ]
    if any(c.branch == mine or c.branch.startswith(mine + "-") for c in held) or not held:
        return
    # The record may lag GitHub (a webhook lost or not yet here): a refusal is confirmed by reading
    # the changes that stand in the way, which also records what was read.
    held = [change for change in (backend.change(c.id) for c in held) if change.status == "open"]
    if not held:
        return
    raise Conflict(
        f"change #{held[0].id} of {claim.environment}/{claim.identifier} is open ({held[0].title}): "
        "merge or close it first, one change at a time"
    )


def propose_destroy(
    backend: GitOpsBackend,
    claim: Claim,
    now: datetime,
    reason: str,
    production: bool,
    ledger: Ledger | None = None,
    kind: str | None = None,
) -> Change:
    """Open (or find again) the change that destroys a database: its claim marked for destruction;
    `production` (Catalog.is_production) decides what its description says destroys it.

    One per expiry: a destroy change closed unmerged is not proposed again for the same
    expiry (closing it is a decision); after an extension the next expiry gets its own.
    """
    marked = marked_for_destroy(claim, now, reason)
    rendered = render_claim(marked)
    short = reason if len(reason) <= 80 else reason[:79] + "…"  # a title stays a line (GitHub: 256)
    title = f"{change_title(claim)}: destroy ({short})"
    kind = kind or f"destroy-{claim.extensions}"
    description = describe_destroy(marked, reason, production)
    change = backend.open_change(Proposal(rendered, marked, title, description, kind))
    if ledger is not None and ledger.get(claim.request_id) is not None and change.status == "open":
        ledger.transition(claim.request_id, "destroy_open", f"destroy change #{change.id}: {reason}")
    return change


def request_destroy(
    backend: GitOpsBackend,
    environment: str,
    identifier: str,
    reason: str,
    now: datetime,
    actor: Actor,
    ledger: Ledger | None = None,
) -> Change:
    """Someone asks for a database's destruction: its destroy change, opened (or found again).

    Unlike the sweep's, a destroy change closed unmerged does not stop a new request: a person
    asking again is a new decision (kind destroy-<n>-<closed change's id>). Done or refused, it is
    in the audit trail.
    """
    with _audited(ledger, actor, "destroy", environment, identifier):
        return _destroy(backend, environment, identifier, reason, now, actor, ledger)


def _destroy(
    backend: GitOpsBackend,
    environment: str,
    identifier: str,
    reason: str,
    now: datetime,
    actor: Actor,
    ledger: Ledger | None,
) -> Change:
    rules = reason_errors(reason)
    if rules:
        raise InvalidRequest([FieldError("reason", rule) for rule in rules])
    claim, _ = current_claim(backend, environment, identifier)
    catalog = backend.catalog()  # read once, whatever the attempts
    allow(catalog.access, actor, "destroy", claim, ledger)
    said = f"asked by {actor.label}: {reason}"
    if claim.destroy_requested_at is not None:  # a destroy change was merged: CI destroys it
        raise Conflict(f"{claim.root} is already being destroyed (since {claim.destroy_requested_at})")
    change = _past_closed(
        lambda kind: propose_destroy(
            backend, claim, now, said, catalog.is_production(environment), ledger, kind
        ),
        f"destroy-{claim.extensions}",
        f"{claim.root}: {_ATTEMPTS} destroy changes",
    )
    if ledger is not None and ledger.first_time(destroy_key(claim, change), "destroy"):
        audit_claim(ledger, actor, "destroy", claim, f"{said}: change #{change.id}")
    return change


@contextmanager
def _audited(
    ledger: Ledger | None, actor: Actor, action: str, environment: str, identifier: str
) -> Iterator[None]:
    """An action refused by a rule or failed, in the audit trail (NotAllowed is there already)."""
    try:
        yield
    except DbvendError as exc:
        if ledger is not None and not isinstance(exc, NotAllowed):
            outcome = "failed" if exc.http_status >= 500 else "refused"
            where = {"environment": environment, "identifier": identifier}
            ledger.audit(AuditEvent.by(actor, action, outcome, detail=exc.summary(), **where))
            exc.audited = True
        raise


def destroy_key(claim: Claim, change: Change) -> str:
    """Once per destroy change: its audit row is written by whoever opened it first."""
    return f"destroy:{claim.request_id}:{change.id}"


def allow(rules: AccessRules, actor: Actor, action: str, claim: Claim, ledger: Ledger | None) -> None:
    """NotAllowed unless dbvend.yaml's access rules let `actor` do `action` to the claim's database."""
    record = ledger.of_database(claim.environment, claim.identifier) if ledger is not None else None
    enforce(rules, actor, action, claim.environment, holder_of(record, claim), ledger)


def audit_claim(
    ledger: Ledger, actor: Actor, action: str, claim: Claim, detail: str, connection: Connection | None = None
) -> None:
    """`actor`'s `action` on the claim's database, in the audit trail."""
    where = {"environment": claim.environment, "identifier": claim.identifier, "request_id": claim.request_id}
    ledger.audit(AuditEvent.by(actor, action, detail=detail, **where), connection)


def _past_closed(open_as: Callable[[str], Change], kind: str, what: str) -> Change:
    """The change `open_as(kind)` opens or finds again; one closed unmerged makes way for a new
    attempt (kind <kind>-<the closed change's id>, so that too is found again). Conflict after
    _ATTEMPTS closed ones (`what` names them)."""
    attempt = kind
    for _ in range(_ATTEMPTS):
        change = open_as(attempt)
        if change.status != "closed":
            return change
        attempt = f"{kind}-{change.id}"
    raise Conflict(f"{what} were closed unmerged; ask the platform team")


def settle_change(
    ledger: Ledger,
    change_id: int,
    key: str,
    status: str,
    where: str,
    merge_commit: str | None = None,
    actor: Actor | None = None,
) -> tuple[str, bool] | None:
    """The ledger after a change is merged or closed (`status`), found by its key (change_key):
    the request's own change moves its request; a destroy change closed unmerged gives the
    database back (merged); an extension is noted. (request id, whether its status moved), or
    None when the ledger has no request for it."""
    request_id, _, kind = key.partition(".")
    if not kind:
        record = ledger.by_change(change_id) or (ledger.get(request_id) if request_id else None)
        if record is None:
            return None
        detail = f"change #{change_id} {status} {where}"
        return record.id, ledger.transition(record.id, status, detail, merge_commit=merge_commit, actor=actor)
    record = ledger.get(request_id)
    if record is None:
        return None
    if kind.startswith("destroy") and status == "closed":
        detail = f"destroy change #{change_id} closed unmerged {where}: the database stays"
        return request_id, ledger.transition(request_id, "merged", detail, actor=actor)
    detail = f"{kind.partition('-')[0]} change #{change_id} {status} {where}"
    with ledger.transaction() as connection:
        ledger.note(request_id, detail, connection)
        where_ = {
            "environment": record.environment,
            "identifier": record.identifier,
            "request_id": request_id,
        }
        action = "merge" if status == "merged" else "close"
        ledger.audit(AuditEvent.by(actor or system("dbvend"), action, detail=detail, **where_), connection)
    return request_id, False


def describe_database(
    ledger: Ledger, backend: GitOpsBackend, environment: str, identifier: str
) -> dict[str, Any]:
    """One database as the API and the portal show it: its claim (from its open change while it
    is asked for, else from main), status and errors, monthly cost estimate and expiry."""
    identifier = identifier.lower()
    record = ledger.of_database(environment, identifier)
    root = Root(environment, identifier).file("request.json")
    change = None
    text = None
    if record is not None and record.change_id is not None:
        change = backend.change(record.change_id)
        if change.status != "merged":  # still asked for: the claim on its change
            text = backend.read_file(change.commit, root)
    if text is None:  # merged: main holds the claim as extensions and destroy changes left it
        text = backend.read_file(None, root)
    if text is None and record is None:
        raise DatabaseNotFound(f"no database {environment}/{identifier}")
    answer: dict[str, Any] = {
        "environment": environment,
        "identifier": identifier,
        "status": record.status if record is not None else "merged",
        "request_id": record.id if record is not None else None,
        "errors": record.errors if record is not None else [],  # why it was refused or failed
        "change": None
        if change is None
        else {
            "id": change.id,
            "status": change.status,
            "branch": change.branch,
            "link": record.change_link if record else None,
        },
        "claim": None,
        "cost": None,
        "expires_at": None,
        "extensions": 0,
        "destroy_requested_at": None,
        # How to reach it once applied (no secret); gone with the database.
        "connection": record.live_connection if record is not None else None,
    }
    if text is not None:
        try:
            claim = parse_claim(text)
        except DbvendError as exc:
            raise DbvendError(f"the claim in {root} does not parse: {exc}") from None
        cost = estimate_monthly_cost(claim)
        answer |= {
            "claim": json.loads(claim.to_json()),
            "cost": {
                "monthly_usd": cost.monthly_usd,
                "lines": [asdict(line) for line in cost.lines],
                "unpriced": list(cost.unpriced),
                "ceiling": None if cost.ceiling is None else asdict(cost.ceiling),
                "source": cost.source,
            },
            "expires_at": claim.expires_at,
            "extensions": claim.extensions,
            "destroy_requested_at": claim.destroy_requested_at,
        }
    return answer
