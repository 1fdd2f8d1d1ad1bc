"""Day-two changes to a database: which fields may change, the rules, and what each does to it running.

A modification is the database's request with some fields changed, validated again as a whole against
dbvend.yaml (engine.spec.parse_request: every catalog limit applies), resolved into the claim
(engine.claim.modified) and described per field from RDS's documented behaviour (_BEHAVIOUR). The
generated roots set no `apply_immediately`, so AWS's default applies (false): what RDS would apply
during the maintenance window waits for it; the rest (tags, Aurora's capacity range, new or deleted
reader instances and proxies) happens when CI applies the change. Anything that would replace the
database (another engine, name, identifier or environment) is refused, never described.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from engine.catalog import Catalog
from engine.claim import Claim, modified
from engine.errors import FieldError, InvalidRequest
from engine.spec import AURORA_FIELDS, parse_request
from engine.versions import major_version

MODIFIABLE: Final = (
    "size",
    "storage_gb",
    "engine_version",
    "readers",
    "proxy",
    "min_acu",
    "max_acu",
    "owner",
    "team",
)
INSTANCE_FIELDS: Final = ("size", "storage_gb")
# Fields that name the database: another value is another database (a replacement), never a change.
IDENTITY_FIELDS: Final = ("database_engine", "database_name", "identifier", "environment")
# RDS refuses a storage increase of less than 10% (RDS user guide, "Increasing DB instance storage
# capacity": "When you increase the allocated storage, it must be by at least 10 percent").
LEAST_STORAGE_GROWTH: Final = 0.10

_FLAGS: Final = {"true": True, "false": False}
# How a field written as text (a comment's field=value, a form's input) becomes the request's type.
_FROM_TEXT: Final[Mapping[str, Callable[[str], object]]] = {
    "storage_gb": int,
    "readers": int,
    "min_acu": float,
    "max_acu": float,
    "proxy": lambda text: _FLAGS[text.lower()],
}

_SETTINGS: Final = "RDS user guide, Settings for DB instances"
_AURORA_SETTINGS: Final = (
    "Aurora user guide, Modifying an Amazon Aurora DB cluster (Settings for Amazon Aurora)"
)


@dataclass(frozen=True)
class Behaviour:
    """What RDS does to a running database when one attribute changes, as its documentation says."""

    impact: str  # in place | with a reboot | new resources | removed resources
    window: bool  # waits for the maintenance window (apply_immediately false, the roots' setting)
    what: str  # the sentence the change's description shows
    source: str  # the document it comes from


# (field, kind) -> behaviour; kind is "instance" (RDS DB instance), "aurora" (the cluster), or a
# refinement ("major", "minor", "more", "fewer", "on", "off").
_BEHAVIOUR: Final[Mapping[tuple[str, str], Behaviour]] = {
    ("size", "instance"): Behaviour(
        "with a reboot",
        True,
        "the instance moves to the new class: it is unavailable while it does (a few minutes; with "
        "Multi-AZ, a failover of about a minute)",
        f"{_SETTINGS}, DB instance class: downtime occurs during this change; it occurs during the next "
        "maintenance window unless applied immediately",
    ),
    ("storage_gb", "instance"): Behaviour(
        "in place",
        True,
        "the allocated storage grows without an outage (performance may dip during storage optimization, "
        "and no other storage change is possible for 6 hours)",
        f"{_SETTINGS}, Allocated storage: downtime doesn't occur; next maintenance window unless applied "
        "immediately; RDS user guide, Increasing DB instance storage capacity (only increases, by 10% or "
        "more; six hours between storage changes)",
    ),
    ("engine_version", "minor"): Behaviour(
        "with a reboot",
        True,
        "the engine is upgraded to the new minor version: the database is unavailable while it restarts",
        f"{_SETTINGS}, DB engine version: an outage occurs; RDS API ModifyDBInstance/ModifyDBCluster "
        "EngineVersion: applied during the next maintenance window unless ApplyImmediately",
    ),
    ("engine_version", "major"): Behaviour(
        "with a reboot",
        True,
        "a major version upgrade (allow_major_version_upgrade is set for this change): the database is "
        "unavailable during the upgrade, and a parameter group of the new family replaces the old one",
        f"{_SETTINGS}, DB engine version, and RDS user guide, Upgrading a DB instance engine version "
        "(major upgrades need AllowMajorVersionUpgrade; an outage occurs); RDS API ModifyDBCluster "
        "EngineVersion for Aurora",
    ),
    ("min_acu", "aurora"): Behaviour(
        "in place",
        False,
        "the cluster's capacity range changes without downtime: Aurora scales within the new range",
        "Aurora user guide, Managing Aurora Serverless v2 DB clusters (Setting the capacity range), and "
        f"{_AURORA_SETTINGS}, Capacity range",
    ),
    ("readers", "more"): Behaviour(
        "new resources",
        False,
        "new reader instances are created; the writer is untouched, and the reader endpoint takes them "
        "in once they are available",
        "Aurora user guide, Adding Aurora Replicas to a DB cluster",
    ),
    ("readers", "fewer"): Behaviour(
        "removed resources",
        False,
        "reader instances are deleted; the writer is untouched, and connections to the deleted readers "
        "end (the reader endpoint moves to the writer when no reader is left)",
        "Aurora user guide, Deleting a DB instance from an Aurora DB cluster",
    ),
    ("proxy", "on"): Behaviour(
        "new resources",
        False,
        "an RDS Proxy is created in front of the cluster; the database is untouched, and applications "
        "go through the proxy once they connect to its endpoint",
        "RDS user guide, Amazon RDS Proxy (Getting started with RDS Proxy)",
    ),
    ("proxy", "off"): Behaviour(
        "removed resources",
        False,
        "the RDS Proxy is deleted: connections through its endpoint fail; the database is untouched",
        "RDS user guide, Amazon RDS Proxy (Deleting an RDS Proxy)",
    ),
    ("owner", "tags"): Behaviour(
        "in place",
        False,
        "tags only (owner): nothing about the running database changes",
        "RDS user guide, Tagging Amazon RDS resources (tags are metadata; AddTagsToResource)",
    ),
    ("team", "tags"): Behaviour(
        "in place",
        False,
        "tags only (team): nothing about the running database changes",
        "RDS user guide, Tagging Amazon RDS resources (tags are metadata; AddTagsToResource)",
    ),
}


@dataclass(frozen=True)
class Effect:
    """One field a modification changes: from, to, and what RDS does to the running database."""

    field: str
    before: str
    after: str
    behaviour: Behaviour

    @property
    def impact(self) -> str:
        """in place / with a reboot / new resources / removed resources, and when."""
        when = "during the maintenance window" if self.behaviour.window else "when applied"
        return f"{self.behaviour.impact}, {when}"


@dataclass(frozen=True)
class Modification:
    """The claim a modification writes, and its effects in the order of MODIFIABLE."""

    claim: Claim
    effects: tuple[Effect, ...]

    @property
    def major_upgrade(self) -> bool:
        return self.claim.allow_major_version_upgrade


def value_from_text(field: str, text: str) -> object:
    """A modifiable field's value from text (`storage_gb=100`, `proxy=true`); ValueError when it is not
    one; the value's own rules are the modification's (modify_claim)."""
    try:
        return _FROM_TEXT.get(field, str)(text.strip())
    except (KeyError, ValueError):
        raise ValueError(f"{field} does not take {text!r}") from None


def fields_from_text(texts: Mapping[str, str]) -> tuple[dict[str, object], list[FieldError]]:
    """A form's modifiable fields, typed (blank ones left out: they stay as they are), and the rules
    those that did not convert break."""
    fields: dict[str, object] = {}
    errors: list[FieldError] = []
    for name in MODIFIABLE:
        text = texts.get(name, "").strip()
        if not text:
            continue
        try:
            fields[name] = value_from_text(name, text)
        except ValueError:
            kind = "true or false" if name == "proxy" else "a number"
            errors.append(FieldError(name, f"must be {kind}"))
    return fields, errors


def modify_claim(claim: Claim, fields: Mapping[str, object], catalog: Catalog) -> Modification:
    """The claim with `fields` changed, held to every rule of a request and to the rules of a change;
    InvalidRequest naming each field refused (nothing to change is refused too)."""
    errors = _field_errors(claim, fields)
    if not isinstance(fields, Mapping) or not fields:
        raise InvalidRequest(errors, "invalid modification")
    refused = {error.field for error in errors}
    # The request as asked, changed; its ttl is the extensions' business (engine.ttl), not held again.
    raw: dict[str, object] = {
        **claim.request.as_dict(),
        **{k: v for k, v in fields.items() if k not in refused},
    }
    raw.pop("ttl", None)
    try:
        request = replace(parse_request(raw, catalog), ttl=claim.request.ttl)
    except InvalidRequest as exc:
        errors += [error for error in exc.errors if error.field not in refused]
    named = {error.field for error in errors}
    errors += [error for error in _change_errors(claim, fields) if error.field not in named]
    if errors:
        raise InvalidRequest(errors, "invalid modification")
    major = "engine_version" in fields and _is_major(claim, str(fields["engine_version"]))
    after = modified(claim, request, catalog, major)
    effects = tuple(effect for name in MODIFIABLE if (effect := _effect(name, claim, after)) is not None)
    if not effects:
        same = [FieldError(name, f"is already {_shown(claim, name)}: nothing to change") for name in fields]
        raise InvalidRequest(same, "invalid modification")
    return Modification(after, effects)


def body_errors(fields: Mapping[str, object]) -> list[FieldError]:
    """The fields no modification may hold, whatever the database: its identity, the ttl, unknown
    ones, nulls (and an empty body). A front door may ask before it reads the database."""
    if not isinstance(fields, Mapping) or not fields:
        return [FieldError("fields", f"say what to change: one or more of {', '.join(MODIFIABLE)}")]
    errors = []
    for name, value in fields.items():
        shown = name[:80] if isinstance(name, str) and name.isprintable() else repr(name)[:80]
        if name in IDENTITY_FIELDS:
            errors.append(
                FieldError(shown, "cannot change: another value is another database (a replacement)")
            )
        elif name == "ttl":
            errors.append(FieldError(shown, "an extension is a change of its own: send it alone"))
        elif name not in MODIFIABLE:
            errors.append(FieldError(shown, f"is not a field of a modification ({', '.join(MODIFIABLE)})"))
        elif value is None:
            errors.append(FieldError(shown, "must be a value: null changes nothing"))
    return errors


def _field_errors(claim: Claim, fields: Mapping[str, object]) -> list[FieldError]:
    """body_errors, then what this database refuses: fields of the other kind of database, and any
    field while it is being destroyed."""
    errors = body_errors(fields)
    if not isinstance(fields, Mapping) or not fields:
        return errors
    named = {error.field for error in errors}
    for name in fields:
        if name in named:
            continue
        if claim.is_aurora and name in INSTANCE_FIELDS:
            errors.append(
                FieldError(
                    name,
                    f"does not apply to {claim.request.database_engine}: its capacity "
                    "is min_acu and max_acu, and its storage grows on its own",
                )
            )
        elif not claim.is_aurora and name in AURORA_FIELDS:
            errors.append(
                FieldError(name, f"applies to Aurora engines only, not {claim.request.database_engine}")
            )
    if claim.destroy_requested_at is not None:
        errors += [
            FieldError(name, f"{claim.root} is being destroyed; it cannot be changed")
            for name in fields
            if name in MODIFIABLE
        ]
    return errors


def _change_errors(claim: Claim, fields: Mapping[str, object]) -> list[FieldError]:
    """The rules of a change beyond a request's (the fields are valid ones by now)."""
    errors = []
    storage = fields.get("storage_gb")
    if isinstance(storage, int) and claim.storage_gb is not None and storage != claim.storage_gb:
        least = claim.storage_gb + -(-claim.storage_gb * 10 // 100)  # 10% more, rounded up
        if storage < claim.storage_gb:
            errors.append(
                FieldError(
                    "storage_gb",
                    f"can only grow: RDS cannot shrink allocated storage (now {claim.storage_gb} GB)",
                )
            )
        elif storage < least:
            errors.append(
                FieldError(
                    "storage_gb",
                    f"must grow by at least 10% (at least {least} GB): RDS "
                    f"refuses a smaller increase (now {claim.storage_gb} GB)",
                )
            )
    version = fields.get("engine_version")
    if isinstance(version, str) and _older(claim, version):
        errors.append(
            FieldError(
                "engine_version",
                f"cannot go back from {claim.engine_version} to {version}: "
                "RDS upgrades engines, it never downgrades them",
            )
        )
    return errors


def _major_key(claim: Claim, version: str) -> tuple[int, ...]:
    major = major_version(claim.request.database_engine, version)
    return tuple(int(part) for part in major.split("."))


def _older(claim: Claim, version: str) -> bool:
    """A major before the claim's (one that does not parse is the catalog's to refuse)."""
    try:
        return _major_key(claim, version) < _major_key(claim, claim.engine_version)
    except ValueError:
        return False


def _is_major(claim: Claim, version: str) -> bool:
    return _major_key(claim, version) != _major_key(claim, claim.engine_version)


def _shown(claim: Claim, name: str) -> str:
    """A field's value in the claim as the description shows it."""
    value: object
    if name == "size":
        value = f"{claim.request.size} ({claim.instance_class})"
    elif name in ("owner", "team"):
        value = claim.tags.get(name, "none")
    else:
        value = getattr(claim, name)
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)


def _effect(name: str, before: Claim, after: Claim) -> Effect | None:
    was, now = _shown(before, name), _shown(after, name)
    if was == now:
        return None
    if name in ("owner", "team"):
        kind = "tags"
    elif name == "engine_version":
        kind = "major" if after.allow_major_version_upgrade else "minor"
    elif name == "readers":
        kind = "more" if after.readers > before.readers else "fewer"
    elif name == "proxy":
        kind = "on" if after.proxy else "off"
    elif name in ("min_acu", "max_acu"):
        return Effect(name, was, now, _BEHAVIOUR[("min_acu", "aurora")])
    else:
        kind = "instance"
    return Effect(name, was, now, _BEHAVIOUR[(name, kind)])


def behaviour_table() -> Mapping[tuple[str, str], Behaviour]:
    """Every documented behaviour, by (field, kind): for the README and the tests."""
    return _BEHAVIOUR
