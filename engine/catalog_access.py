"""dbvend.yaml's `access:` section, checked into an engine.access.AccessRules: every principal valid."""

from __future__ import annotations

from typing import Any, Final

from engine.access import (
    ANY_ENVIRONMENT,
    AUDIT_CHOICES,
    FLEET_CHOICES,
    NOT_ADMINS,
    PRINCIPAL_FORMS,
    AccessRules,
    principal,
)
from engine.catalog_checks import Section, list_of_mappings, one_of

_KEYS: Final = ("admins", "request", "extend", "modify", "destroy", "fleet", "audit")
_LIST_RULE: Final = f"must be a list of principals: {PRINCIPAL_FORMS}"


def read_access(top: Section, environments: tuple[str, ...]) -> AccessRules:
    """access: who may do what; each key left out keeps its default (engine.access.AccessRules)."""
    spec = top.section("access", _KEYS)
    defaults = AccessRules()
    admins = _principals(spec, "admins", defaults.admins)
    for i, name in enumerate(admins):
        if name in NOT_ADMINS:
            raise spec.error(
                ("admins", i),
                f'"{name}" cannot be an admin: admins are people and keys, named as team:<slug>,'
                " user:<login>, key:<name>, role:<...> or permission:<...>",
            )
    return AccessRules(
        admins=admins,
        request=_request(spec, environments, defaults),
        extend=_principals(spec, "extend", defaults.extend),
        modify=_principals(spec, "modify", defaults.modify),
        destroy=_principals(spec, "destroy", defaults.destroy),
        fleet=spec.get("fleet", one_of(FLEET_CHOICES), "must be everyone or own", defaults.fleet),
        audit=spec.get("audit", one_of(AUDIT_CHOICES), "must be everyone or admins", defaults.audit),
    )


def _request(
    spec: Section, environments: tuple[str, ...], defaults: AccessRules
) -> dict[str, tuple[str, ...]]:
    """access.request: environment (or "*") -> principals; "*" keeps its default unless given."""
    keys = (ANY_ENVIRONMENT, *environments)
    section = spec.section("request", None)
    rules = dict(defaults.request)
    for key in section.raw:
        if key not in keys:
            raise section.error(key, f'must be "*" or an environment of this file: {", ".join(environments)}')
        rules[key] = _principals(section, key, None)
        for i, name in enumerate(rules[key]):
            if name in ("owner", "team"):
                raise section.error(
                    (key, i),
                    f'"{name}" means the database\'s {name}, which a request does not have yet'
                    " (name teams as team:<slug>)",
                )
    return rules


def _principals(spec: Section, key: str, default: tuple[str, ...] | None) -> tuple[str, ...]:
    """The list under key, each item a principal in its canonical form, none twice ([]: nobody but
    admins); unset or null: default (None: it must be a list)."""
    if spec.raw.get(key) is None and default is not None:
        return default
    items = spec.get(key, list_of_mappings, _LIST_RULE)  # any list: its items are checked below
    found: list[str] = []
    for i, item in enumerate(items):
        name = _principal(spec, key, i, item)
        if name in found:
            raise spec.error((key, i), f'"{name}" is listed twice')
        found.append(name)
    return tuple(found)


def _principal(spec: Section, key: str, i: int, item: Any) -> str:
    try:
        return principal(item)
    except ValueError:
        shown = f'"{item}"' if isinstance(item, str) else repr(item)
        raise spec.error((key, i), f"{shown} is not a principal: {PRINCIPAL_FORMS}") from None
