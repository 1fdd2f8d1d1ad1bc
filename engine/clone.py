"""A clone: a new database in another (or the same) environment, restored from an existing one's
latest restorable time (a preview of staging's data for a branch, say). Pure: the source's claim
in, the new request's fields out; intake then checks them like any request's, restore and
clone_from rules included (engine.pipeline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.claim import Claim
from engine.errors import FieldError, InvalidRequest
from engine.restore_from import LATEST
from engine.spec import DATABASE_NAME, derive_identifier

CLONE_FIELDS: Final = ("to_environment", "name", "ttl", "owner", "team")
_REQUIRED: Final = ("to_environment", "name")


def clone_fields(source: Claim, body: Mapping[str, object]) -> dict[str, Any]:
    """The request that clones `source`: its engine, major version, database name (a restore keeps
    it) and storage, in `to_environment` under the identifier `name` gives (lower case, hyphens for
    underscores), restored from its latest restorable time, with the time-to-live asked (or the
    target environment's default). InvalidRequest names each field of `body` that is wrong."""
    errors = [
        FieldError(str(name)[:80], f"is not a field of a clone (only {', '.join(CLONE_FIELDS)})")
        for name in body
        if name not in CLONE_FIELDS
    ]
    for field in CLONE_FIELDS:
        value = body.get(field)
        if value is None and field not in _REQUIRED:
            continue
        if not isinstance(value, str) or not value:
            errors.append(FieldError(field, "is required: text" if field in _REQUIRED else "must be text"))
    name = body.get("name")
    if (
        isinstance(name, str)
        and name
        and not (len(name) <= 64 and name.isascii() and DATABASE_NAME.fullmatch(name))
    ):
        errors.append(
            FieldError("name", "must start with a letter and hold only letters, digits, underscores")
        )
    if errors:
        raise InvalidRequest(errors, "invalid clone")
    request = source.request
    fields: dict[str, Any] = {
        "database_name": request.database_name,
        "identifier": derive_identifier(str(body["name"])),
        "database_engine": request.database_engine,
        "engine_version": source.engine_version,
        "environment": body["to_environment"],
        "restore_from": {"database": f"{source.environment}/{source.identifier}", "point_in_time": LATEST},
        "reason": f"clone of {source.environment}/{source.identifier}",
    }
    if source.storage_gb is not None:
        fields["storage_gb"] = source.storage_gb  # RDS restores no smaller than the source
    if body.get("ttl") is not None:  # else the target environment's default: a copy's own lease
        fields["ttl"] = body["ttl"]
    for name in ("owner", "team"):  # the source's people, unless the clone names its own
        value = body.get(name, getattr(request, name))
        if value is not None:
            fields[name] = value
    return fields


# The request's fields a clone's body names otherwise.
_CLONE_NAMES: Final = {"environment": "to_environment", "identifier": "name"}


def as_clone_refusal(refusal: InvalidRequest) -> InvalidRequest:
    """A refusal of the cloning request, its fields named as the clone's body names them."""
    return InvalidRequest(
        [FieldError(_CLONE_NAMES.get(e.field, e.field), e.rule) for e in refusal.errors], "invalid clone"
    )
