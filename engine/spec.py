"""DatabaseRequest: the fields, their defaults, AWS naming rules per engine, TTL parsing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Final, Protocol

from engine.errors import FieldError, InvalidRequest
from engine.restore_from import (
    FINAL_SNAPSHOT,
    LATEST,
    RESTORE_FIELDS,
    RestoreFrom,
    point_in_time_valid,
    snapshot_errors,
)


class Limits(Protocol):
    """The organisation's limits a request is held to (engine.catalog.Catalog)."""

    def request_errors(self, parsed: Mapping[str, Any]) -> list[FieldError]: ...


ENGINES: Final = ("postgres", "mysql", "aurora-postgresql", "aurora-mysql")
AURORA_ENGINES: Final = frozenset({"aurora-postgresql", "aurora-mysql"})
SIZES: Final = ("small", "medium", "large")
AURORA_FIELDS: Final = ("min_acu", "max_acu", "readers", "proxy")
MAX_READERS: Final = 15  # Aurora's limit of replicas per cluster
MAX_ACU: Final = 256.0
STORAGE_GB: Final = (20, 65536)  # allocated storage in GB, least and most (a request's, dbvend.yaml's limits)
# AWS refuses a maximum of 0.5 ACU: "The maximum capacity must be at least 1.0" (RDS API,
# ServerlessV2ScalingConfiguration; the provider validates max_capacity within 1 to 256).
LEAST_MAX_ACU: Final = 1.0
# Aurora instance names are "<identifier>-reader-15" at the longest, within RDS's 63.
AURORA_IDENTIFIER_MAX: Final = 63 - len(f"-reader-{MAX_READERS}")

# Names the engines keep for themselves (AWS: "can't be a word reserved by the engine").
RESERVED_DATABASE_NAMES: Final = frozenset(
    {
        "postgres",
        "template0",
        "template1",
        "rdsadmin",
        "rdstopmgr",
        "public",
        "mysql",
        "sys",
        "information_schema",
        "performance_schema",
        "innodb",
        "tmp",
        "admin",
        "root",
        "user",
        "users",
        "default",
        "database",
        "schema",
        "table",
        "select",
        "insert",
        "update",
        "delete",
        "drop",
        "create",
        "alter",
        "grant",
        "order",
        "group",
        "where",
        "from",
        "index",
        "key",
        "primary",
        "references",
        "null",
        "true",
        "false",
        "all",
        "and",
        "or",
        "not",
        "as",
        "by",
        "in",
        "is",
        "on",
        "to",
        "with",
        "column",
        "constraint",
        "check",
        "unique",
        "union",
    }
)

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
DATABASE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_TTL = re.compile(r"(?P<n>[1-9][0-9]{0,4})(?P<unit>[hd])")
# A request's environment and engine version, and the names dbvend.yaml may give them.
ENVIRONMENT_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,19}")
ENGINE_VERSION: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,39}")
OWNER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
TEAM: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-]|[A-Za-z0-9]")
# Free text, but never anything a template or a markdown table could take for syntax,
# and no invisible characters (controls, bidi overrides, zero-width, separators).
REASON_SYNTAX: Final = frozenset('$%{}<>`\\|"')
_REASON_INVISIBLE: Final = ("C", "Zl", "Zp")  # unicodedata categories: Cc Cf Cs Co Cn, line/paragraph
REASON_MAX: Final = 500


@dataclass(frozen=True)
class DatabaseRequest:
    """What someone asked for, validated; defaults come later from the catalog."""

    database_name: str
    database_engine: str
    environment: str
    identifier: str
    engine_version: str | None = None
    size: str = "small"
    storage_gb: int | None = None
    ttl: str | None = None
    owner: str | None = None
    team: str | None = None
    reason: str | None = None
    min_acu: float | None = None
    max_acu: float | None = None
    readers: int | None = None
    proxy: bool | None = None
    restore_from: RestoreFrom | None = None

    @property
    def is_aurora(self) -> bool:
        return self.database_engine in AURORA_ENGINES

    def as_dict(self) -> dict[str, Any]:
        """The request's fields, without the ones left unset."""
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        if self.restore_from is not None:
            fields["restore_from"] = self.restore_from.as_dict()
        return fields


FIELDS: Final = tuple(DatabaseRequest.__dataclass_fields__)


def parse_ttl(text: str) -> timedelta | None:
    """ "12h" / "7d" -> timedelta; "none" -> None. ValueError on anything else."""
    if text == "none":
        return None
    match = _TTL.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a TTL: use hours or days such as 12h or 7d, or none")
    n = int(match["n"])
    return timedelta(hours=n) if match["unit"] == "h" else timedelta(days=n)


def format_ttl(value: timedelta | None) -> str:
    """The inverse of parse_ttl, in the largest whole unit."""
    if value is None:
        return "none"
    hours = int(value.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def acu_in_steps(value: int | float, least: float) -> bool:
    """An Aurora Serverless v2 capacity: from least to MAX_ACU, in steps of 0.5 ACU."""
    return least <= value <= MAX_ACU and not (value * 2) % 1


def derive_identifier(database_name: str) -> str:
    """An RDS identifier from a database name: lower case, hyphens for underscores."""
    identifier = re.sub(r"-{2,}", "-", database_name.lower().replace("_", "-"))
    return identifier.rstrip("-")


def identifier_errors(identifier: str, engine: str | None) -> list[str]:
    """The RDS identifier rules this value breaks (empty when valid)."""
    if not identifier:
        return ["must not be empty"]
    if not identifier.isascii() or not _IDENTIFIER.fullmatch(identifier):
        return ["must start with a letter and hold only ASCII letters, digits and hyphens"]
    rules = []
    limit = AURORA_IDENTIFIER_MAX if engine in AURORA_ENGINES else 63
    if len(identifier) > limit:
        why = " for Aurora (room for the '-reader-N' instance names)" if limit != 63 else ""
        rules.append(f"must be at most {limit} characters{why}, got {len(identifier)}")
    if "--" in identifier:
        rules.append("must not contain two consecutive hyphens")
    if identifier.endswith("-"):
        rules.append("must not end with a hyphen")
    return rules


def database_name_errors(name: str, engine: str | None) -> list[str]:
    """The database-name rules this value breaks for the engine (empty when valid)."""
    if not name:
        return ["must not be empty"]
    if not name.isascii() or not DATABASE_NAME.fullmatch(name):
        return ["must start with a letter and hold only ASCII letters, digits and underscores"]
    limit = 64 if engine in ("mysql", "aurora-mysql") else 63
    rules = []
    if len(name) > limit:
        where = f" for {engine}" if engine else ""
        rules.append(f"must be at most {limit} characters{where}, got {len(name)}")
    if name.lower() in RESERVED_DATABASE_NAMES:
        rules.append(f"{name.lower()!r} is a name reserved by the database engine")
    return rules


REASON_RULE: Final = (
    f"must be at most {REASON_MAX} characters of visible plain text on one line"
    " (no $ % { } < > ` \\ | or quotes)"
)


def reason_errors(text: str) -> list[str]:
    """Why a reason (of a request, or of a destruction) is refused; empty when it is fine."""
    if not text.strip():
        return ["is required: say why"]
    return [] if _plain_text(text, REASON_MAX) else [REASON_RULE]


def _plain_text(text: str, limit: int) -> bool:
    """One line of visible text: no template/markdown syntax, nothing invisible."""
    return len(text) <= limit and not any(
        char in REASON_SYNTAX or unicodedata.category(char).startswith(_REASON_INVISIBLE) for char in text
    )


def _shown(value: int | float) -> str:
    """A number for a message, without printing thousands of digits."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if abs(value) < 10**18 else "a number far out of range"


class _Reader:
    """Reads typed fields out of a raw mapping, collecting every rule broken."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw
        self.errors: list[FieldError] = []

    def fail(self, field: str, rule: str) -> None:
        self.errors.append(FieldError(field, rule))

    def text(self, field: str, required: bool = False) -> str | None:
        value = self.raw.get(field)
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str):
            self.fail(field, f"must be a string, got {type(value).__name__}")
            return None
        return value

    def pattern(self, field: str, regex: re.Pattern[str], rule: str, required: bool = False) -> str | None:
        value = self.text(field, required)
        if value is not None and not (value.isascii() and regex.fullmatch(value)):
            self.fail(field, rule)
            return None
        return value

    def integer(self, field: str, low: int, high: int) -> int | None:
        value = self.raw.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"must be a whole number, got {type(value).__name__}")
            return None
        if not low <= value <= high:
            self.fail(field, f"must be between {low} and {high}, got {_shown(value)}")
            return None
        return value

    def acu(self, field: str, least: float = 0.5) -> float | None:
        value = self.raw.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(field, f"must be a number of ACUs, got {type(value).__name__}")
            return None
        if not acu_in_steps(value, least):
            self.fail(field, f"must be {least:g} to {MAX_ACU:g} in steps of 0.5, got {_shown(value)}")
            return None
        return float(value)

    def restore_from(self) -> RestoreFrom | None:
        """restore_from: exactly `database` and one of `snapshot` / `point_in_time`."""
        value = self.raw.get("restore_from")
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.fail(
                "restore_from", "must be an object: database and snapshot, or database and point_in_time"
            )
            return None
        before = len(self.errors)
        for key in value:
            if key not in RESTORE_FIELDS:
                shown = key if isinstance(key, str) and key.isprintable() else repr(key)
                self.fail(f"restore_from.{str(shown)[:80]}", "is not a known field")
        inner = _Reader(value)
        database = inner.text("database", required=True)
        snapshot, moment = inner.text("snapshot"), inner.text("point_in_time")
        if database is not None:
            for rule in restore_database_errors(database):
                inner.fail("database", rule)
        if snapshot is not None and snapshot != FINAL_SNAPSHOT and snapshot_errors(snapshot):
            inner.fail("snapshot", f"{'; '.join(snapshot_errors(snapshot))} (or final)")
        if moment is not None and moment != LATEST and not point_in_time_valid(moment):
            inner.fail("point_in_time", "must be a UTC time such as 2026-12-01T10:00:00Z, or latest")
        self.errors += [FieldError(f"restore_from.{e.field}", e.rule) for e in inner.errors]
        if value.get("snapshot") is not None and value.get("point_in_time") is not None:
            self.fail("restore_from", "takes a snapshot or a point_in_time, not both")
        elif value.get("snapshot") is None and value.get("point_in_time") is None:
            self.fail(
                "restore_from",
                "needs a snapshot (an id, or final) or a point_in_time (a UTC time, or latest)",
            )
        if len(self.errors) > before:
            return None
        assert database is not None
        return RestoreFrom(database=database, snapshot=snapshot, point_in_time=moment)

    def flag(self, field: str) -> bool | None:
        value = self.raw.get(field)
        if value is not None and not isinstance(value, bool):
            self.fail(field, f"must be true or false, got {type(value).__name__}")
            return None
        return value


def restore_database_errors(database: str) -> list[str]:
    """The rules "<environment>/<identifier>" breaks (empty when it names a database dbvend could hold)."""
    environment, slash, identifier = database.partition("/")
    if not slash or not (environment.isascii() and ENVIRONMENT_NAME.fullmatch(environment)):
        return ["must be <environment>/<identifier>, such as dev/orders"]
    return [f"its identifier {rule}" for rule in identifier_errors(identifier, None)]


def parse_request(raw: Mapping[str, object], catalog: Limits | None = None) -> DatabaseRequest:
    """Validate a raw request (from any front door) into a DatabaseRequest.

    Every broken rule is collected and raised at once as InvalidRequest, each
    naming its field. With a catalog, the organisation's limits apply too.
    """
    if not isinstance(raw, Mapping):
        raise InvalidRequest([FieldError("request", "must be an object of fields")])
    read = _Reader(raw)
    for field in raw:
        if field not in FIELDS:
            shown = field if isinstance(field, str) and field.isprintable() else repr(field)
            read.fail(str(shown)[:80], "is not a known field")

    engine = read.text("database_engine", required=True)
    if engine is not None and engine not in ENGINES:
        read.fail("database_engine", f"must be one of {', '.join(ENGINES)}")
        engine = None
    name = read.text("database_name", required=True)
    if name is not None:
        for rule in database_name_errors(name, engine):
            read.fail("database_name", rule)
    environment = read.pattern(
        "environment",
        ENVIRONMENT_NAME,
        "must be a lower-case environment name from dbvend.yaml",
        required=True,
    )
    identifier = read.text("identifier")
    if identifier is not None:
        for rule in identifier_errors(identifier, engine):
            read.fail("identifier", rule)
    elif name is not None and not database_name_errors(name, engine):
        identifier = derive_identifier(name)
        for rule in identifier_errors(identifier, engine):
            read.fail("identifier", f"derived from database_name as {identifier!r}: {rule}")

    version = read.pattern("engine_version", ENGINE_VERSION, "must look like an engine version: 16.4")
    size = read.text("size")
    if size is not None and size not in SIZES:
        read.fail("size", f"must be one of {', '.join(SIZES)}")
    ttl = read.text("ttl")
    if ttl is not None:
        try:
            parse_ttl(ttl)
        except ValueError as exc:
            read.fail(
                "ttl",
                str(exc)
                if ttl.isprintable() and len(ttl) < 20
                else "is not a TTL: use hours or days such as 12h or 7d, or none",
            )
    owner = read.pattern("owner", OWNER, "must be a login or e-mail: letters, digits, . _ @ + -")
    team = read.pattern("team", TEAM, "must be 1-64 letters, digits, spaces, . _ -")
    reason = read.text("reason")
    if reason is not None and not _plain_text(reason, REASON_MAX):
        read.fail("reason", REASON_RULE)

    storage = read.integer("storage_gb", *STORAGE_GB)
    min_acu, max_acu = read.acu("min_acu", least=0), read.acu("max_acu")
    if max_acu is not None and max_acu < LEAST_MAX_ACU:
        read.fail("max_acu", f"must be at least {LEAST_MAX_ACU:g}: AWS needs the maximum above 0.5 ACU")
        max_acu = None
    readers = read.integer("readers", 0, MAX_READERS)
    proxy = read.flag("proxy")
    restore_from = read.restore_from()
    if engine is not None and engine not in AURORA_ENGINES:
        for field in AURORA_FIELDS:
            if raw.get(field) is not None:
                read.fail(field, f"applies to Aurora engines only, not {engine}")
    if engine in AURORA_ENGINES and raw.get("storage_gb") is not None:
        read.fail("storage_gb", "does not apply to Aurora: its storage grows on its own")
    if min_acu is not None and max_acu is not None and min_acu > max_acu:
        read.fail("min_acu", f"must not exceed max_acu ({max_acu:g})")

    if catalog is not None:
        # Fields that parsed are held to the catalog even when others did not parse,
        # so one answer names every problem.
        parsed = {
            "environment": environment,
            "database_engine": engine,
            "engine_version": version,
            "size": size if size in SIZES else None if size is not None else "small",
            "storage_gb": storage,
            "ttl": None if any(e.field == "ttl" for e in read.errors) else ttl,
            "min_acu": min_acu,
            "max_acu": max_acu,
            "readers": readers,
            "proxy": proxy,
        }
        reported = {e.field for e in read.errors}
        read.errors += [e for e in catalog.request_errors(parsed) if e.field not in reported]
    if read.errors:
        raise InvalidRequest(read.errors)
    assert name is not None and engine is not None and environment is not None
    assert identifier is not None
    return DatabaseRequest(
        database_name=name,
        database_engine=engine,
        environment=environment,
        identifier=identifier.lower(),
        engine_version=version,
        size=size or "small",
        storage_gb=storage,
        ttl=ttl,
        owner=owner,
        team=team,
        reason=reason,
        min_acu=min_acu,
        max_acu=max_acu,
        readers=readers,
        proxy=proxy,
        restore_from=restore_from,
    )
