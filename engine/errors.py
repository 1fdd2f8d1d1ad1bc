"""The error tree: every failure a user can see, with what they need to read.

Each class carries the CLI's exit code and the API's HTTP status; the message is the text a user
reads, so it names the field, the database or the change, never a server path or an internal
detail. The API answers every DbvendError with one schema, {"detail", "errors": [{field, rule}]}
(engine.app); the CLI prints the message and exits with `exit_code` (engine.cli.support).

    exit  HTTP
     2    422   InvalidRequest, IdempotencyMismatch, CatalogError (the server's dbvend.yaml: 500)
     3    422   CheckFailed > PolicyFailed
     4    409   Conflict, NotOpen, StaleHead
     1    404   NotFound > DatabaseNotFound, ChangeNotFound, RequestNotFound
     1    503   Unavailable > QueueUnavailable, GitOpsError, CheckovMissing, PolicyScanError
     1    400   MalformedBody; 401 Unauthenticated, 403 Forbidden > SignInRefused, 415 UnsupportedMedia,
                429 RateLimited
     1    500   DbvendError, GitError, TerraformError > TerraformTimeout, TerraformMissing
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One broken rule on one input field."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class DbvendError(Exception):
    """Root of dbvend's errors: `exit_code` for the CLI, `http_status` for the API, `errors` the
    fields it names, `headers` what an HTTP answer adds (Retry-After)."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    errors: tuple[FieldError, ...] = ()
    audited: bool = False  # set once the refusal is in the audit trail: the web edge adds no second row

    @property
    def headers(self) -> Mapping[str, str]:
        return {}

    def summary(self) -> str:
        """One line for the audit trail: the sentence, then each field's rule."""
        rules = "; ".join(f"{error.field}: {error.rule}" for error in self.errors)
        return f"{self}: {rules}" if rules else str(self)

    def answer(self) -> dict[str, Any]:
        """The API's body: the sentence, and the field errors when there are any."""
        errors = {"errors": [{"field": e.field, "rule": e.rule} for e in self.errors]} if self.errors else {}
        return {"detail": str(self)} | errors


class InvalidRequest(DbvendError):
    """The request breaks one or more rules; nothing was written."""

    exit_code = 2
    http_status = 422

    def __init__(self, errors: Iterable[FieldError], detail: str = "invalid request") -> None:
        self.errors = tuple(errors)
        self.detail = detail
        super().__init__(detail + ": " + "; ".join(str(e) for e in self.errors))

    @property
    def fields(self) -> set[str]:
        return {e.field for e in self.errors}

    def answer(self) -> dict[str, Any]:
        return super().answer() | {"detail": self.detail}


class IdempotencyMismatch(DbvendError):
    """An idempotency key reused for a different request."""

    exit_code = 2
    http_status = 422

    def __init__(self, message: str) -> None:
        self.errors = (FieldError("Idempotency-Key", message),)
        super().__init__(message)


class CatalogError(DbvendError):
    """dbvend.yaml is broken: names the key and the line."""

    exit_code = 2

    def __init__(self, key: str, rule: str, line: int | None = None, path: str = "dbvend.yaml"):
        self.key, self.rule, self.line, self.path = key, rule, line, path
        where = f"{path} line {line}" if line is not None else path
        super().__init__(f"{where}: {key}: {rule}" if key else f"{where}: {rule}")


class CheckFailed(DbvendError):
    """A check on the rendered Terraform failed; nothing was committed."""

    exit_code = 3
    http_status = 422

    def __init__(self, failures: Sequence[str]) -> None:
        self.failures = tuple(failures)
        super().__init__("refused by a check: " + "; ".join(self.failures))


class PolicyFailed(CheckFailed):
    """The gate's decision is fail: nothing is committed. Each failure is named; `decision` is the
    gate's (engine.policy.PolicyDecision)."""

    def __init__(self, failures: Sequence[str], decision: Any) -> None:
        self.decision = decision
        super().__init__(failures)


class Conflict(DbvendError):
    """The database already exists on main or in an open change."""

    exit_code = 4
    http_status = 409


class StaleHead(Conflict):
    """CI was asked to apply a head that is no longer the pull request's."""


class NotFound(DbvendError):
    """What the caller named does not exist."""

    http_status = 404


class DatabaseNotFound(NotFound):
    """No claim for that database on main."""


class RequestNotFound(NotFound):
    """No request has that id."""


class Unavailable(DbvendError):
    """Something dbvend needs did not answer; the same call may work later."""

    http_status = 503
    retry_after: ClassVar[int] = 30

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class GitOpsError(Unavailable):
    """The GitOps store could not do what was asked."""


class ChangeNotFound(GitOpsError, NotFound):
    """No change has that id."""

    http_status = 404

    @property
    def headers(self) -> Mapping[str, str]:
        return {}


class NotOpen(GitOpsError, Conflict):
    """The change cannot be merged or closed as it stands (not open, conflicting, branch gone)."""

    exit_code = 1
    http_status = 409

    @property
    def headers(self) -> Mapping[str, str]:
        return {}


class QueueUnavailable(Unavailable):
    """The request could not be handed to the queue: it is failed (its name free), send it again."""

    retry_after = 5


class CheckovMissing(Unavailable):
    """No usable checkov: the gate cannot run, and never passes silently."""


class PolicyScanError(Unavailable):
    """A scan could not run (timed out, worker died twice, checkov failed)."""


class GitError(DbvendError):
    """A git command CI ran failed."""


class TerraformError(DbvendError):
    """A terraform step failed; the message is its scrubbed output's end."""

    def __init__(self, step: str, root: Path, message: str, returncode: int | None = None) -> None:
        self.step, self.root, self.returncode = step, root, returncode  # terraform's own exit code
        super().__init__(f"terraform {step} failed in {root}: {message}")


class TerraformTimeout(TerraformError):
    """A terraform step ran past its time."""


class TerraformMissing(DbvendError):
    """No terraform executable where one was needed."""


class MalformedBody(DbvendError):
    """The body is not what the door reads (not JSON, not an object, headers missing)."""

    http_status = 400

    def __init__(self, detail: str, errors: Iterable[FieldError] = ()) -> None:
        self.errors = tuple(errors)
        super().__init__(detail)


class Unauthenticated(DbvendError):
    """No credentials, or a signature that does not match."""

    http_status = 401


class Forbidden(DbvendError):
    """Credentials that are not allowed here."""

    http_status = 403


class NotAllowed(Forbidden):
    """dbvend.yaml's access rules refuse this actor this action (engine.access): the reason names
    the rule, and the attempt is in the audit trail."""


START_AGAIN = "Start again from the sign-in page."  # what SignInRefused's readers can do, mostly


class SignInRefused(Forbidden):
    """Signing in to the portal with GitHub gave no session: the reason, in words the person can
    act on, and the page's status (400 for a callback that is not one, 403 for a refusal)."""

    def __init__(self, reason: str, status: int = 403, login: str | None = None) -> None:
        self.status, self.login = status, login
        super().__init__(reason)

    @property
    def actor(self) -> str:
        """Who was refused, for the audit trail: the GitHub user once known, else unknown."""
        return f"github:{self.login}" if self.login else "unknown"


class UnsupportedMedia(DbvendError):
    """The body is not in a media type the door reads."""

    http_status = 415


class RateLimited(DbvendError):
    """Too many calls for this key; try again after `retry_after` seconds."""

    http_status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(detail)

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}
