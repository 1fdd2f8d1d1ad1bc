"""Who is acting and through which door: one Actor, built the same way by every door, so the access
rules (engine.access) and the audit trail (engine.audit) see the same person as the same actor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

# The doors an action comes through: the REST API (API keys), the portal (a person signed in with
# GitHub, or an API key's session), an issue form, a comment, GitHub's other deliveries, a CI job
# (plan/apply), the scheduled sweep, the `dbvend` command on an operator's machine, and dbvend's
# own consumer turning a request into its change.
DOORS: Final = ("api", "portal", "issue", "comment", "webhook", "ci", "schedule", "cli", "dbvend")
# An API key's role: admin may do everything, requester what dbvend.yaml's `access:` allows,
# reader only reads.
KEY_ROLES: Final = ("admin", "requester", "reader")
# GitHub's repository permissions, weakest first.
PERMISSIONS: Final = ("none", "read", "triage", "write", "maintain", "admin")


@dataclass(frozen=True)
class Actor:
    """A person (github:<login>), an API key (key:<name>) or dbvend itself, acting through a door."""

    name: str
    door: str
    login: str | None = None  # a person's GitHub login
    teams: frozenset[str] = field(default_factory=frozenset)  # their organisation's team slugs, casefolded
    role: str | None = None  # an API key's role (KEY_ROLES)
    permission: str | None = None  # a person's permission on the infrastructure repository

    @property
    def is_person(self) -> bool:
        return self.login is not None

    @property
    def label(self) -> str:
        """How texts name the actor: @login for a person (GitHub links it), else the name."""
        return f"@{self.login}" if self.login is not None else self.name

    def at(self, door: str) -> Actor:
        """The same actor coming through another door."""
        return Actor(self.name, door, self.login, self.teams, self.role, self.permission)


def person(login: str, door: str, teams: Iterable[str] = (), permission: str | None = None) -> Actor:
    """A GitHub user: the same name whether they sign in to the portal, file an issue or comment."""
    return Actor(
        f"github:{login}",
        door,
        login=login,
        teams=frozenset(team.casefold() for team in teams),
        permission=permission,
    )


def api_key(name: str, role: str, door: str = "api") -> Actor:
    """An API key by its configured name (key:<name>)."""
    return Actor(f"key:{name}", door, role=role)


def operator(name: str) -> Actor:
    """Someone running `dbvend` with the repository's and the ledger's own credentials: an admin."""
    return Actor(f"cli:{name}", "cli", role="admin")


def system(door: str) -> Actor:
    """dbvend itself: the consumer opening a change, the sweep, a CI job's report."""
    return Actor("dbvend", door)
