"""The request bodies the API reads, as models for the OpenAPI document, and their examples.

The bodies are parsed strictly by engine.api.deps.json_object and checked field by field by
engine.spec (requests), engine.modify (a modification) and engine.api.databases (an extension, a
destruction): those stay the rules. These models only describe them, for /docs and generated
clients; each constraint they state is one the server enforces (a request that breaks the schema
is refused), while rules a schema cannot state (dbvend.yaml's limits on main, one field against
another) are in the descriptions and answered 422 naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

from engine.spec import (
    DATABASE_NAME,
    ENGINE_VERSION,
    ENGINES,
    ENVIRONMENT_NAME,
    LEAST_MAX_ACU,
    MAX_ACU,
    MAX_READERS,
    OWNER,
    REASON_MAX,
    REASON_SYNTAX,
    SIZES,
    STORAGE_GB,
    TEAM,
)

# What a reason may never hold (engine.spec.REASON_RULE): template and markdown syntax, controls (the
# other invisible characters engine.spec refuses have no range a pattern can name briefly).
_PLAIN_TEXT: Final = (
    "^[^" + "".join("\\" + c if c in "\\]^-" else c for c in sorted(REASON_SYNTAX)) + r"\x00-\x1f\x7f-\x9f]*$"
)


def _whole(pattern: re.Pattern[str]) -> str:
    """engine.spec's pattern (matched whole there) as a JSON Schema pattern, which matches anywhere."""
    return f"^(?:{pattern.pattern})$"


class RestoreFromBody(BaseModel):
    """Where the new database's data comes from: `database` and exactly one of `snapshot` (a snapshot
    id, or final: the one dbvend kept when it destroyed that database) and `point_in_time` (a UTC time,
    or latest). The source must be on main or destroyed by dbvend, of the same engine, major version
    and database name; a point in time must be past and within the source's backups (422 otherwise,
    naming the field)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: _one_source(schema))

    database: str = Field(
        max_length=84,
        pattern=r"^[a-z][a-z0-9-]{0,19}/[A-Za-z](?:-?[A-Za-z0-9])*$",
        description="The source: <environment>/<identifier>.",
    )
    snapshot: str | None = Field(
        None,
        max_length=255,
        pattern=r"^[A-Za-z](?:-?[A-Za-z0-9])*$",
        description="A DB (cluster) snapshot of the source, or final.",
    )
    point_in_time: str | None = Field(
        None,
        pattern=r"^(?:latest|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$",
        description="A UTC time such as 2026-12-01T10:00:00Z, or latest.",
    )


def _one_source(schema: dict[str, Any]) -> None:
    """Exactly one of snapshot and point_in_time holds a string (null is the same as absent)."""
    schema["oneOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("snapshot", "point_in_time")
    ]


class DatabaseRequestBody(BaseModel):
    """A database request: every field of engine.spec.DatabaseRequest (null is the same as absent).

    Beyond this shape, dbvend.yaml on main decides which environments exist and, per environment,
    the engines, engine versions, sizes, storage, time-to-live and Aurora limits on offer. Aurora
    fields (min_acu, max_acu, readers, proxy) apply to Aurora engines only and storage_gb to the
    others; min_acu may not exceed max_acu; database_name may not be a word the engine reserves,
    and is at most 63 characters (64 for MySQL); an Aurora identifier is at most 53. A request
    breaking any of these is answered 422 with every field it breaks.
    """

    model_config = ConfigDict(extra="forbid")

    database_name: str = Field(max_length=64, pattern=_whole(DATABASE_NAME))
    database_engine: Annotated[str, WithJsonSchema({"type": "string", "enum": list(ENGINES)})]
    environment: str = Field(
        pattern=_whole(ENVIRONMENT_NAME), description="One of the environments in dbvend.yaml."
    )
    identifier: str | None = Field(
        None,
        max_length=63,
        pattern=r"^[A-Za-z](?:-?[A-Za-z0-9])*$",
        description="The RDS identifier; derived from database_name when absent.",
    )
    engine_version: str | None = Field(
        None,
        pattern=_whole(ENGINE_VERSION),
        description="One of the engine's versions in dbvend.yaml; the first when absent.",
    )
    size: Annotated[str, WithJsonSchema({"type": "string", "enum": list(SIZES)})] | None = Field(
        None, description="The instance class, per environment in dbvend.yaml; small when absent."
    )
    storage_gb: int | None = Field(None, ge=STORAGE_GB[0], le=STORAGE_GB[1], description="Not for Aurora.")
    ttl: str | None = Field(
        None,
        pattern=r"^(?:[1-9][0-9]{0,4}[hd]|none)$",
        description="Time-to-live, such as 12h or 7d, or none; within the environment's maximum.",
    )
    owner: str | None = Field(None, pattern=_whole(OWNER))
    team: str | None = Field(None, pattern=_whole(TEAM))
    reason: str | None = Field(
        None,
        max_length=REASON_MAX,
        pattern=_PLAIN_TEXT,
        description="One line of visible text, without $ % { } < > ` \\ | or quotes.",
    )
    min_acu: float | None = Field(None, ge=0, le=MAX_ACU, multiple_of=0.5, description="Aurora only.")
    max_acu: float | None = Field(
        None, ge=LEAST_MAX_ACU, le=MAX_ACU, multiple_of=0.5, description="Aurora only."
    )
    readers: int | None = Field(None, ge=0, le=MAX_READERS, description="Aurora only.")
    proxy: bool | None = Field(None, description="Aurora only: an RDS Proxy in front of the cluster.")
    restore_from: RestoreFromBody | None = Field(
        None,
        description="Create the database from another's snapshot or point in time (see README, Restore).",
        examples=[
            {"database": "dev/orders", "snapshot": "final"},
            {"database": "prod/orders", "point_in_time": "2026-12-01T10:00:00Z"},
        ],
    )


class ExtensionBody(BaseModel):
    """An extension: the database's new time-to-live, from now, within its environment's maximum."""

    model_config = ConfigDict(extra="forbid")

    ttl: str = Field(pattern=r"^[1-9][0-9]{0,4}[hd]$", description="Hours or days, such as 12h or 3d.")


class ModificationBody(BaseModel):
    """A modification (a day-two change): one or more fields of the database's request, changed.

    Each field keeps its request rules (DatabaseRequestBody) and dbvend.yaml's limits; beyond them,
    storage_gb only grows (by 10% or more), engine_version only moves to a later version the catalog
    offers (a new major is a major upgrade), size and storage_gb apply to RDS instances and the
    Aurora fields (min_acu, max_acu, readers, proxy) to Aurora clusters only, and something must
    change. A modification breaking any of these is answered 422 naming the field. The database's
    engine, name, identifier and environment never change (another value is another database), and
    ttl is an extension, sent alone (ExtensionBody).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: _present_or_absent(schema))

    size: Annotated[str, WithJsonSchema({"type": "string", "enum": list(SIZES)})] | None = Field(
        None, description="The instance class, per environment in dbvend.yaml; not for Aurora."
    )
    storage_gb: int | None = Field(
        None, ge=STORAGE_GB[0], le=STORAGE_GB[1], description="Grows only; not for Aurora."
    )
    engine_version: str | None = Field(
        None, pattern=_whole(ENGINE_VERSION), description="A later version the catalog offers."
    )
    readers: int | None = Field(None, ge=0, le=MAX_READERS, description="Aurora only.")
    proxy: bool | None = Field(None, description="Aurora only: an RDS Proxy in front of the cluster.")
    min_acu: float | None = Field(None, ge=0, le=MAX_ACU, multiple_of=0.5, description="Aurora only.")
    max_acu: float | None = Field(
        None, ge=LEAST_MAX_ACU, le=MAX_ACU, multiple_of=0.5, description="Aurora only."
    )
    owner: str | None = Field(None, pattern=_whole(OWNER))
    team: str | None = Field(None, pattern=_whole(TEAM))


class DatabaseChangeBody(RootModel[ExtensionBody | ModificationBody]):
    """A change to a database: an extension ({"ttl"} alone) or a modification (other fields)."""

    model_config = ConfigDict(json_schema_extra=lambda schema: one_of(schema))


def _present_or_absent(schema: dict[str, Any]) -> None:
    """Fields sent with a value or not at all (null changes nothing, and is refused), at least one."""
    for name, field in schema["properties"].items():
        field.pop("default", None)
        schema["properties"][name] = without_null(field)
    schema["minProperties"] = 1


def one_of(schema: dict[str, Any]) -> None:
    """Exactly one of the branches (they never overlap: a modification holds no ttl)."""
    schema["oneOf"] = schema.pop("anyOf")


class DestructionBody(BaseModel):
    """A destruction: why the database goes."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=REASON_MAX,
        pattern=_PLAIN_TEXT,
        description="One line of visible text, without $ % { } < > ` \\ | or quotes.",
    )


class CloneBody(BaseModel):
    """A clone: a new database restored from this one's latest restorable time (engine.clone), in an
    environment dbvend.yaml's clone_from lets copy it, with its own time-to-live."""

    model_config = ConfigDict(extra="forbid")

    to_environment: str = Field(
        max_length=20, pattern=_whole(ENVIRONMENT_NAME), description="One of the environments in dbvend.yaml."
    )
    name: str = Field(
        max_length=64,
        pattern=_whole(DATABASE_NAME),
        description="The copy's name: its identifier is this in lower case, hyphens for underscores. The"
        " database inside keeps the source's name (a restore keeps it).",
    )
    ttl: str | None = Field(
        None,
        pattern=r"^(?:[1-9][0-9]{0,4}[hd]|none)$",
        description="Such as 2d, within the target environment's maximum; default: the environment's.",
    )
    owner: str | None = Field(None, pattern=_whole(OWNER), description="Default: the source's owner.")
    team: str | None = Field(None, pattern=_whole(TEAM), description="Default: the source's team.")


BODIES: Final[tuple[type[BaseModel], ...]] = (
    DatabaseRequestBody,
    ExtensionBody,
    ModificationBody,
    DatabaseChangeBody,
    DestructionBody,
    CloneBody,
)


SEED_REQUEST: Final = {"database_name": "mydb123", "database_engine": "mysql", "environment": "dev"}
REQUEST_EXAMPLES: Final = {
    "seed": {"summary": "The seed's request", "value": SEED_REQUEST},
    "aurora": {
        "summary": "Aurora Serverless v2 with a reader, for three days",
        "value": {
            "database_name": "analytics",
            "database_engine": "aurora-postgresql",
            "environment": "dev",
            "min_acu": 0.5,
            "max_acu": 2,
            "readers": 1,
            "ttl": "3d",
            "owner": "ann",
            "team": "Data",
            "reason": "load test",
        },
    },
}
CHANGE_EXAMPLES: Final = {
    "three-days": {"summary": "An extension: three days from now", "value": {"ttl": "3d"}},
    "resize": {
        "summary": "A modification: a larger class and more storage",
        "value": {"size": "medium", "storage_gb": 100},
    },
    "aurora": {
        "summary": "A modification: Aurora capacity and a reader",
        "value": {"max_acu": 4, "readers": 1},
    },
}
DESTRUCTION_EXAMPLES: Final = {"done": {"summary": "Done with it", "value": {"reason": "load test done"}}}
CLONE_EXAMPLES: Final = {
    "preview": {
        "summary": "A branch's own copy of staging's data, for two days",
        "value": {"to_environment": "dev", "name": "orders_pr123", "ttl": "2d"},
    }
}


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without FastAPI's `null` branch: a query parameter or a
    header is absent or a string, never null."""
    branches = schema.get("anyOf", [])
    kept: list[dict[str, Any]] = [branch for branch in branches if branch != {"type": "null"}]
    if len(kept) != 1 or len(branches) != 2:
        return schema
    return {key: value for key, value in schema.items() if key != "anyOf"} | kept[0]
