"""The error tree: every failure a user can see, with what they need to read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class DbvendError(Exception):
    """Root of dbvend's errors; `exit_code` is what the CLI exits with."""

    exit_code = 1


@dataclass(frozen=True)
class FieldError:
    """One broken rule on one input field."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class InvalidRequest(DbvendError):
    """The request breaks one or more rules; nothing was written."""

    exit_code = 2

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("invalid request: " + "; ".join(str(e) for e in self.errors))

    @property
    def fields(self) -> set[str]:
        return {e.field for e in self.errors}


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

    def __init__(self, failures: Sequence[str]) -> None:
        self.failures = tuple(failures)
        super().__init__("refused by a check: " + "; ".join(self.failures))


class Conflict(DbvendError):
    """The database already exists on main or in an open change."""

    exit_code = 4


class GitOpsError(DbvendError):
    """The GitOps store could not do what was asked."""


class ChangeNotFound(GitOpsError):
    """No change has that id."""


class QueueUnavailable(DbvendError):
    """The request could not be handed to the queue: it is failed (its name free), send it again."""
