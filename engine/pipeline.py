"""One request -> one change: validate, resolve, render, check, commit. Idempotent on the request id."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from engine.catalog import Catalog
from engine.checkov.gate import PolicyGate, check_rendered
from engine.claim import Claim, parse_claim, resolve_claim
from engine.cost import CostEstimate, estimate_monthly_cost
from engine.description import change_title, describe_change
from engine.errors import CheckFailed, FieldError, InvalidRequest
from engine.gitops import Change, GitOpsBackend, Proposal
from engine.hcl import CheckResult, run_checks
from engine.policy import PolicyDecision
from engine.render import RenderedRoot, render_claim
from engine.restore import RestoreSource, source_of_request
from engine.restore_from import FINAL_SNAPSHOT, RestoreFrom
from engine.roots import Root
from engine.spec import parse_request
from engine.store.ledger import Ledger


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    rendered: RenderedRoot
    checks: list[CheckResult]
    cost: CostEstimate
    policy: PolicyDecision
    change: Change | None = None


def new_request_id() -> str:
    return str(uuid.uuid4())


def source_of_claim(claim: Claim, final_snapshot: str | None = None) -> RestoreSource:
    """A live source: its claim on the default branch."""
    return RestoreSource(
        database=f"{claim.environment}/{claim.identifier}",
        engine=claim.request.database_engine,
        engine_version=claim.engine_version,
        database_name=claim.request.database_name,
        storage_gb=claim.storage_gb,
        backup_retention_days=claim.backup_retention_days,
        live=True,
        final_snapshot=final_snapshot,
    )


def find_restore_source(backend: GitOpsBackend, ledger: Ledger | None, restore: RestoreFrom) -> RestoreSource:
    """A restore's source: its claim on the default branch, else the ledger's record of its destroyed
    request (with the final snapshot the ledger holds for it); InvalidRequest when neither knows it."""
    final = ledger.final_snapshot(restore.environment, restore.identifier) if ledger is not None else None
    text = backend.read_file(None, Root(restore.environment, restore.identifier).file("request.json"))
    if text is not None:
        return source_of_claim(parse_claim(text), final)
    # the newest destroyed request: a new request of the same name (a restore of it) is newer still
    record = (
        ledger.latest(restore.environment, restore.identifier, "destroyed") if ledger is not None else None
    )
    if record is not None:
        return source_of_request(restore.database, record.payload, final)
    where = backend.default_branch()
    known = (
        "nor destroyed by dbvend" if ledger is not None else "(and no ledger here to find a destroyed one)"
    )
    raise InvalidRequest(
        [FieldError("restore_from.database", f"no database {restore.database} on {where} {known}")]
    )


def request_claim(
    raw: Mapping[str, object],
    catalog: Catalog,
    backend: GitOpsBackend,
    ledger: Ledger | None,
    request_id: str,
    accepted_at: datetime,
) -> Claim:
    """A raw request's claim, a restore held to dbvend.yaml's clone_from and to its source
    (engine.restore), and "final" resolved to the snapshot the ledger holds, so the claim names the
    snapshot itself."""
    request = parse_request(raw, catalog)
    source = None
    if request.restore_from is not None:
        refusal = catalog.copy_refusal(request.restore_from.environment, request.environment)
        if refusal is not None:  # dbvend.yaml's clone_from: who may copy what
            raise InvalidRequest([FieldError("restore_from.database", refusal)])
        source = find_restore_source(backend, ledger, request.restore_from)
        restore = request.restore_from
        if restore.snapshot == FINAL_SNAPSHOT and source.final_snapshot is not None:
            request = replace(request, restore_from=replace(restore, snapshot=source.final_snapshot))
    return resolve_claim(request, catalog, request_id, accepted_at, source)


def prepare(
    claim: Claim, catalog: Catalog, gate: PolicyGate, terraform: str | None, today: date | None = None
) -> Outcome:
    """Render and check a claim, then the policy gate (its skips as of `today`, by default the day the
    request was accepted); CheckFailed (PolicyFailed) on a failure."""
    rendered = render_claim(claim)
    checks = run_checks(rendered, claim, terraform)
    failures = [f"{c.name}: {c.detail}" for c in checks if c.failed]
    if failures:
        raise CheckFailed(failures)
    decision = check_rendered(
        gate, rendered, catalog, claim.environment, today or date.fromisoformat(claim.accepted_at[:10])
    )
    if decision.result == "fail":
        raise decision.refusal()
    return Outcome(claim, rendered, checks, estimate_monthly_cost(claim), decision)


def process_request(
    raw: Mapping[str, object],
    backend: GitOpsBackend,
    gate: PolicyGate,
    request_id: str | None = None,
    accepted_at: datetime | None = None,
    terraform: str | None = None,
    ledger: Ledger | None = None,
) -> Outcome:
    """The consumer's whole job for one request; raises DbvendError subclasses on refusal.

    `terraform` is the executable for the fmt check (None: skipped, and the description says so);
    `ledger` is where a restore's destroyed source is found (engine.pipeline.find_restore_source).
    """
    catalog = backend.catalog()
    claim = request_claim(
        raw, catalog, backend, ledger, request_id or new_request_id(), accepted_at or datetime.now(UTC)
    )
    seen = backend.check_absent(claim)  # cheap, before rendering; open_change starts from it
    outcome = prepare(claim, catalog, gate, terraform)
    description = describe_change(claim, outcome.cost, outcome.checks, outcome.policy)
    change = backend.open_change(Proposal(outcome.rendered, claim, change_title(claim), description), seen)
    backend.report_checks(change, outcome.policy)
    return replace(outcome, change=change)
