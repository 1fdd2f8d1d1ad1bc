"""Whose delivery is it: pure checks of a webhook payload against the repository dbvend serves.

A valid signature proves only that GitHub sent a delivery. An App installed on several repositories
gets all of their deliveries with the same secret, and a pull request, a branch name, a marker or a
run title can be made by anyone who can fork or push. So a delivery counts only when it is about
the configured repository (its full name, its id and the App's installation). Which pull requests
are dbvend's own is engine.gitops.not_own_change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.gitops import RepositoryIdentity

# Events about the App's installation rather than one repository: checked by installation id.
INSTALLATION_EVENTS: Final = ("installation", "installation_repositories")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _about_installation(event: str, payload: Mapping[str, Any]) -> bool:
    """An installation event, or the App's own ping (no repository: it does nothing either way)."""
    return event in INSTALLATION_EVENTS or (event == "ping" and "repository" not in payload)


def foreign_name(event: str, payload: Mapping[str, Any], full_name: str) -> str | None:
    """Why a delivery is about another repository by its name alone (no call needed), or None."""
    if _about_installation(event, payload):
        return None
    named = str(_mapping(payload.get("repository")).get("full_name") or "")
    if not named:
        return f"a {event} delivery without a repository"
    if named.casefold() != full_name.casefold():
        return f"the delivery is about {named}, not {full_name}"
    return None


def foreign(event: str, payload: Mapping[str, Any], identity: RepositoryIdentity) -> str | None:
    """Why a delivery is not about the configured repository and installation, or None."""
    named = foreign_name(event, payload, identity.full_name)
    if named is not None:
        return named
    installation = _mapping(payload.get("installation")).get("id")
    known = identity.installation_id
    if known is not None and installation is not None and installation != known:
        return f"the delivery is for installation {installation}, not {known}"
    if event in INSTALLATION_EVENTS:
        return None if installation is not None else f"an {event} delivery without an installation"
    if _about_installation(event, payload):
        return None
    repo_id = _mapping(payload.get("repository")).get("id")
    if identity.id is not None and repo_id != identity.id:
        return f"repository id {repo_id} is not {identity.full_name}'s ({identity.id})"
    return None
