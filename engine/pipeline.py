"""One request -> one change: validate, resolve, render, check, commit. Idempotent on the request id."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from engine.catalog import Catalog
from engine.checkov.gate import PolicyGate, check_rendered
from engine.claim import Claim, claim_from_raw
from engine.cost import CostEstimate, estimate_monthly_cost
from engine.description import change_title, describe_change
from engine.errors import CheckFailed
from engine.gitops import Change, GitOpsBackend, Proposal
from engine.hcl import CheckResult, run_checks
from engine.policy import PolicyDecision
from engine.render import RenderedRoot, render_claim


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
) -> Outcome:
    """The consumer's whole job for one request; raises DbvendError subclasses on refusal.

    `terraform` is the executable for the fmt check (None: skipped, and the description says so).
    """
    catalog = backend.catalog()
    claim = claim_from_raw(raw, catalog, request_id or new_request_id(), accepted_at or datetime.now(UTC))
    seen = backend.check_absent(claim)  # cheap, before rendering; open_change starts from it
    outcome = prepare(claim, catalog, gate, terraform)
    description = describe_change(claim, outcome.cost, outcome.checks, outcome.policy)
    change = backend.open_change(Proposal(outcome.rendered, claim, change_title(claim), description), seen)
    backend.report_checks(change, outcome.policy)
    return replace(outcome, change=change)
