"""Who may do what (issue 23): dbvend.yaml's `access:` rules and the one decision every door asks for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from engine.identity import KEY_ROLES, PERMISSIONS, Actor

ACTIONS: Final = ("request", "extend", "modify", "destroy", "view", "audit")
# What a key with the reader role may still do.
READ_ACTIONS: Final = ("view", "audit")
# The actions whose principals are held against an existing database (its owner, its team).
HOLDER_ACTIONS: Final = ("extend", "modify", "destroy")
FLEET_CHOICES: Final = ("everyone", "own")
AUDIT_CHOICES: Final = ("everyone", "admins")
ANY_ENVIRONMENT: Final = "*"
SYSTEM_ACTOR: Final = "dbvend"
# Principals without a value, and the kinds of principal that name one (kind:value).
WORDS: Final = ("anyone", "owner", "team", "admins")
NOT_ADMINS: Final = WORDS  # the admins list names people and keys, not relations to a database
GRANTING_PERMISSIONS: Final = PERMISSIONS[PERMISSIONS.index("triage") :]
PRINCIPAL_FORMS: Final = (
    "anyone, owner, team, admins, team:<slug>, user:<login>, key:<name>,"
    f" role:<{'|'.join(KEY_ROLES)}>, permission:<{'|'.join(GRANTING_PERMISSIONS)}>"
)
_VALUES: Final = {
    "team": re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}"),  # a team's slug in the organisation
    "user": re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38})"),  # a GitHub login
    "key": re.compile(r"[a-z0-9][a-z0-9._-]{0,39}"),  # an API key's name (engine.keys)
    "role": re.compile("|".join(KEY_ROLES)),
    "permission": re.compile("|".join(GRANTING_PERMISSIONS)),
}


def principal(value: object) -> str:
    """A principal as dbvend.yaml writes it, in its canonical form (team slugs and logins
    casefolded); ValueError when it is none (PRINCIPAL_FORMS lists them)."""
    if not isinstance(value, str):
        raise ValueError(value)
    if value in WORDS:
        return value
    kind, colon, rest = value.partition(":")
    pattern = _VALUES.get(kind)
    canonical = rest.casefold() if kind in ("team", "user") else rest
    if not colon or pattern is None or not canonical.isascii() or not pattern.fullmatch(canonical):
        raise ValueError(value)
    return f"{kind}:{canonical}"


@dataclass(frozen=True)
class Holder:
    """What the rules need to know of an existing database (the callers read it from the ledger)."""

    requested_by: str | None  # the ledger's requester: github:alice, key:ci, or a legacy key-0123456789ab
    owner: str | None  # free text from the request: a GitHub login, an email, key:ci...
    team: str | None
    identifier: str | None = None  # only to name the database in a refusal


@dataclass(frozen=True)
class AccessRules:
    """dbvend.yaml's `access:`; these defaults are dbvend's behaviour when the section is absent."""

    admins: tuple[str, ...] = ("role:admin", "permission:write")  # principals with every right
    # environment (or "*", every other one) -> who may ask for a database there
    request: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {ANY_ENVIRONMENT: ("anyone",)})
    extend: tuple[str, ...] = ("owner", "team", "admins")
    modify: tuple[str, ...] = ("owner", "team", "admins")
    destroy: tuple[str, ...] = ("owner", "team", "admins")
    fleet: str = "everyone"  # or own: people see their own and their teams' databases (admins all)
    audit: str = "everyone"  # or admins

    def __post_init__(self) -> None:
        """Every principal in its canonical form; ValueError on one that is none (engine.catalog_access
        reads dbvend.yaml with errors that name the key; this guards rules built in code)."""
        for name in ("admins", "extend", "modify", "destroy"):
            object.__setattr__(self, name, tuple(principal(p) for p in getattr(self, name)))
        request = {key: tuple(principal(p) for p in principals) for key, principals in self.request.items()}
        object.__setattr__(self, "request", request)
        if set(self.admins) & set(NOT_ADMINS):
            raise ValueError(f"admins are people and keys, not {', '.join(NOT_ADMINS)}: {self.admins}")
        if self.fleet not in FLEET_CHOICES or self.audit not in AUDIT_CHOICES:
            raise ValueError(f"fleet must be everyone or own, audit everyone or admins: {self!r}")

    def request_rule(self, environment: str) -> tuple[str, tuple[str, ...]] | None:
        """The key of access.request that governs an environment, and its principals."""
        for key in (environment, ANY_ENVIRONMENT):
            if key in self.request:
                return key, self.request[key]
        return None


@dataclass(frozen=True)
class Decision:
    """allowed, and why: the principal that matched, or a sentence a person can act on."""

    allowed: bool
    reason: str


def decide(
    rules: AccessRules, actor: Actor, action: str, environment: str, holder: Holder | None = None
) -> Decision:
    """Whether actor may take action in environment (on holder's database, for extend, modify,
    destroy and view): the one answer every door (API, portal, issue form, comment) acts on."""
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not an action: {', '.join(ACTIONS)}")
    if actor.name == SYSTEM_ACTOR:
        return Decision(True, "dbvend itself")
    if actor.role == "reader" and action not in READ_ACTIONS:
        return Decision(False, f"{actor.label} has the reader role: it only reads")
    admin = _admin_principal(rules, actor)
    if admin is not None:
        return Decision(True, f"admin ({admin})")
    if action == "request":
        return _decide_request(rules, actor, environment)
    if action in HOLDER_ACTIONS:
        principals: tuple[str, ...] = getattr(rules, action)
        return _decide_on(principals, actor, action, environment, holder, f"access.{action} allows")
    if action == "view":
        if rules.fleet == "everyone":
            return Decision(True, "fleet: everyone")
        own = "access.fleet is own: it shows a database to"
        return _decide_on(("owner", "team", "admins"), actor, "see", environment, holder, own)
    if rules.audit == "everyone":
        return Decision(True, "audit: everyone")
    return Decision(
        False, f"{actor.label} may not read the audit trail: dbvend.yaml's access.audit allows admins only"
    )


def may_see_all(rules: AccessRules, actor: Actor) -> bool:
    """Whether the fleet shows actor every database (else only those decide() lets it view)."""
    everyone = rules.fleet == "everyone" or actor.name == SYSTEM_ACTOR
    return everyone or _admin_principal(rules, actor) is not None


def teams_to_check(
    rules: AccessRules, action: str, environment: str, holder: Holder | None = None
) -> frozenset[str]:
    """The team slugs (casefolded) whose membership could change decide()'s answer: a door that asks
    GitHub one team at a time (comments, issue forms) asks only these."""
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not an action: {', '.join(ACTIONS)}")
    principals = _principals_for(rules, action, environment)
    if "anyone" in principals:
        return frozenset()
    teams = {p.partition(":")[2] for p in (*rules.admins, *principals) if p.startswith("team:")}
    if "team" in principals and holder is not None and holder.team:
        teams.add(holder.team.casefold())
    return frozenset(teams)


# -- matching ----------------------------------------------------------------------------------


def _principals_for(rules: AccessRules, action: str, environment: str) -> tuple[str, ...]:
    """The principals an action's answer hangs on besides access.admins ("anyone": it hangs on none)."""
    if action == "request":
        rule = rules.request_rule(environment)
        return () if rule is None else rule[1]
    if action in HOLDER_ACTIONS:
        principals: tuple[str, ...] = getattr(rules, action)
        return principals
    if action == "view":
        return ("anyone",) if rules.fleet == "everyone" else ("owner", "team")
    return ("anyone",) if rules.audit == "everyone" else ()


def _admin_principal(rules: AccessRules, actor: Actor) -> str | None:
    if actor.role == "admin":
        return "role:admin"
    return next((p for p in rules.admins if _matches(p, actor, None)), None)


def _owns(actor: Actor, holder: Holder) -> bool:
    """Whether actor asked for the database or is its owner (a login, @login, github:login, key:name)."""
    requester = (holder.requested_by or "").casefold()
    if requester.startswith("key-"):  # the ledger's name of a key before keys had names (engine.keys)
        requester = "key:" + requester.removeprefix("key-")
    names = {actor.name.casefold()} | ({actor.login.casefold()} if actor.login else set())
    owner = (holder.owner or "").strip().casefold().removeprefix("@")
    return requester == actor.name.casefold() or owner in names


def _matches(principal: str, actor: Actor, holder: Holder | None) -> bool:
    """Whether one principal (not admins, which decide() asks first) names actor."""
    if principal == "anyone":
        return True
    if principal == "owner":
        return holder is not None and _owns(actor, holder)
    if principal == "team":
        return holder is not None and bool(holder.team) and (holder.team or "").casefold() in actor.teams
    kind, _, value = principal.partition(":")
    if kind == "team":
        return value in actor.teams
    if kind == "user":
        return actor.login is not None and actor.login.casefold() == value
    if kind == "key":
        return actor.name == f"key:{value}"
    if kind == "role":
        return actor.role == value
    if kind == "permission":
        held = PERMISSIONS.index(actor.permission) if actor.permission in PERMISSIONS else 0
        return held >= PERMISSIONS.index(value)
    return False


def _decide_on(
    principals: tuple[str, ...], actor: Actor, verb: str, environment: str, holder: Holder | None, rule: str
) -> Decision:
    for p in principals:
        if _matches(p, actor, holder):
            return Decision(True, _allowed_as(p, holder))
    allows = _describe((*principals, "admins"), holder)
    return Decision(
        False,
        f"{actor.label} may not {verb} {_database(environment, holder)}: dbvend.yaml's {rule} {allows}",
    )


def _decide_request(rules: AccessRules, actor: Actor, environment: str) -> Decision:
    rule = rules.request_rule(environment)
    if rule is not None:
        key, principals = rule
        for p in principals:
            if _matches(p, actor, None):
                return Decision(True, _allowed_as(p, None))
        where = f'access.request["{ANY_ENVIRONMENT}"]' if key == ANY_ENVIRONMENT else f"access.request.{key}"
        why = f"dbvend.yaml's {where} allows {_describe((*principals, 'admins'), None)}"
    else:
        why = f'dbvend.yaml\'s access.request has no rule for {environment} (nor "*"): only admins may'
    refusal = f"{actor.label} may not request a database in {environment}: {why}"
    return Decision(False, f"{refusal}; {_elsewhere(rules, actor, environment)}")


def _elsewhere(rules: AccessRules, actor: Actor, environment: str) -> str:
    """Where actor may request instead, as the end of a refusal."""

    def allowed(key: str) -> bool:
        return any(_matches(p, actor, None) for p in rules.request[key])

    named = [key for key in rules.request if key != ANY_ENVIRONMENT]
    if ANY_ENVIRONMENT in rules.request and allowed(ANY_ENVIRONMENT):
        return f"it may request in every environment but {_joined([k for k in named if not allowed(k)])}"
    places = [key for key in named if key != environment and allowed(key)]
    return f"it may request in {_joined(places)}" if places else "it may request in no environment"


# -- words -------------------------------------------------------------------------------------


def _allowed_as(principal: str, holder: Holder | None) -> str:
    if principal == "team" and holder is not None and holder.team:
        return f"team:{holder.team.casefold()}"
    return principal


def _database(environment: str, holder: Holder | None) -> str:
    if holder is None:
        return f"a database in {environment}"
    return f"{environment}/{holder.identifier}" if holder.identifier else f"this database in {environment}"


def _describe(principals: Iterable[str], holder: Holder | None) -> str:
    words: list[str] = []
    for p in principals:
        word = _word(p, holder)
        if word not in words:
            words.append(word)
    return _joined(words)


def _word(principal: str, holder: Holder | None) -> str:
    if principal == "owner":
        return "its owner"
    if principal == "team":
        return f"its team ({holder.team})" if holder is not None and holder.team else "its team"
    if principal in ("anyone", "admins"):
        return principal
    kind, _, value = principal.partition(":")
    if kind == "role":
        return f"keys with the {value} role"
    if kind == "permission":
        return f"people with {value} permission" + ("" if value == "admin" else " or more")
    return f"{kind} {value}"  # team platform, user alice, key ci


def _joined(words: list[str]) -> str:
    if len(words) < 2:
        return words[0] if words else "none"
    return f"{', '.join(words[:-1])} and {words[-1]}"
