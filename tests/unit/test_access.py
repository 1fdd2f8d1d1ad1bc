"""engine/access.py: one decision for every door (issue 23), and dbvend.yaml's `access:` read strictly
(engine/catalog_access.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from textwrap import dedent, indent

import pytest

from engine.access import (
    ACTIONS,
    AccessRules,
    Decision,
    Holder,
    decide,
    may_see_all,
    principal,
    teams_to_check,
)
from engine.catalog import Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.errors import CatalogError
from engine.identity import Actor, api_key, person, system

# -- the table: rule sets x actors x (action, environment, holder) -------------------------------

DEFAULTS = AccessRules()
PROD_PLATFORM = AccessRules(request={"*": ("anyone",), "prod": ("team:platform",)})
FLEET_OWN = AccessRules(fleet="own")
AUDIT_ADMINS = AccessRules(audit="admins")
PLATFORM_ADMINS = AccessRules(admins=("team:platform",))
RULES = {
    "defaults": DEFAULTS,
    "prod-platform": PROD_PLATFORM,
    "fleet-own": FLEET_OWN,
    "audit-admins": AUDIT_ADMINS,
    "platform-admins": PLATFORM_ADMINS,
}

ALICES = Holder("github:alice", "alice", "search", "orders")  # alice asked for it
PAYMENTS = Holder("github:zed", "zed", "Payments", "billing")  # alice's team's
CIS = Holder("key:ci", "key:ci", None, "ci-cache")  # the key ci's
OTHERS = Holder("github:zed", "zed@example.com", "platform", "ledger")  # neither's (bob's team's)
HOLDERS = (ALICES, PAYMENTS, CIS, OTHERS)


def alice(door: str) -> Actor:
    return person("alice", door, teams={"Payments"}, permission="read")


ACTORS = {
    "key:ci": api_key("ci", "requester"),
    "key:root": api_key("root", "admin"),
    "key:dash": api_key("dash", "reader"),
    "alice": alice("portal"),
    "bob": person("bob", "portal", teams={"platform"}, permission="read"),
    "carol": person("carol", "portal", permission="write"),
}

# One mark per column, Y allowed, N refused:
#   request dev, prod | extend, modify, destroy, view: each on ALICES PAYMENTS CIS OTHERS | audit
COLUMNS = [
    ("request", "dev", None),
    ("request", "prod", None),
    *[(action, "dev", holder) for action in ("extend", "modify", "destroy", "view") for holder in HOLDERS],
    ("audit", "dev", None),
]
EVERYTHING = "YY YYYY YYYY YYYY YYYY Y"
TABLE = {
    "defaults": {
        "key:ci": "YY NNYN NNYN NNYN YYYY Y",
        "key:root": EVERYTHING,
        "key:dash": "NN NNNN NNNN NNNN YYYY Y",
        "alice": "YY YYNN YYNN YYNN YYYY Y",
        "bob": "YY NNNY NNNY NNNY YYYY Y",
        "carol": EVERYTHING,  # write permission: an admin by default
    },
    "prod-platform": {
        "key:ci": "YN NNYN NNYN NNYN YYYY Y",
        "key:root": EVERYTHING,
        "key:dash": "NN NNNN NNNN NNNN YYYY Y",
        "alice": "YN YYNN YYNN YYNN YYYY Y",
        "bob": "YY NNNY NNNY NNNY YYYY Y",
        "carol": EVERYTHING,
    },
    "fleet-own": {
        "key:ci": "YY NNYN NNYN NNYN NNYN Y",
        "key:root": EVERYTHING,
        "key:dash": "NN NNNN NNNN NNNN NNNN Y",
        "alice": "YY YYNN YYNN YYNN YYNN Y",
        "bob": "YY NNNY NNNY NNNY NNNY Y",
        "carol": EVERYTHING,
    },
    "audit-admins": {
        "key:ci": "YY NNYN NNYN NNYN YYYY N",
        "key:root": EVERYTHING,
        "key:dash": "NN NNNN NNNN NNNN YYYY N",
        "alice": "YY YYNN YYNN YYNN YYYY N",
        "bob": "YY NNNY NNNY NNNY YYYY N",
        "carol": EVERYTHING,
    },
    "platform-admins": {
        "key:ci": "YY NNYN NNYN NNYN YYYY Y",
        "key:root": EVERYTHING,  # an admin key is an admin whatever access.admins says
        "key:dash": "NN NNNN NNNN NNNN YYYY Y",
        "alice": "YY YYNN YYNN YYNN YYYY Y",
        "bob": EVERYTHING,
        "carol": "YY NNNN NNNN NNNN YYYY Y",  # write permission no longer makes an admin
    },
}
CASES = [
    pytest.param(rules, actor, marks.replace(" ", ""), id=f"{rules}-{actor}")
    for rules, row in TABLE.items()
    for actor, marks in row.items()
]


@pytest.mark.parametrize(("rules", "actor", "marks"), CASES)
def test_the_table(rules: str, actor: str, marks: str) -> None:
    assert len(marks) == len(COLUMNS)
    got = "".join(
        "Y" if decide(RULES[rules], ACTORS[actor], action, env, holder).allowed else "N"
        for action, env, holder in COLUMNS
    )
    assert got == marks


@pytest.mark.parametrize(("rules", "actor", "marks"), CASES)
def test_the_same_actor_gets_the_same_decision_through_every_door(rules: str, actor: str, marks: str) -> None:
    doors = ("portal", "issue", "comment") if ACTORS[actor].is_person else ("api", "portal")
    for action, env, holder in COLUMNS:
        decisions = {decide(RULES[rules], ACTORS[actor].at(door), action, env, holder) for door in doors}
        assert len(decisions) == 1, (action, env, holder)


def test_alice_built_at_each_door_is_the_same_actor_but_for_the_door() -> None:
    for rules in RULES.values():
        for action, env, holder in COLUMNS:
            answers = {
                decide(rules, alice(door), action, env, holder) for door in ("portal", "issue", "comment")
            }
            assert len(answers) == 1


@pytest.mark.parametrize(("rules", "actor", "marks"), CASES)
def test_asking_only_teams_to_check_gives_the_same_answer(rules: str, actor: str, marks: str) -> None:
    """A door that asks GitHub about teams_to_check() alone decides as if it knew every team."""
    full = ACTORS[actor]
    for action, env, holder in COLUMNS:
        known = full.teams & teams_to_check(RULES[rules], action, env, holder)
        partial = Actor(full.name, full.door, full.login, known, full.role, full.permission)
        assert decide(RULES[rules], partial, action, env, holder).allowed == (
            decide(RULES[rules], full, action, env, holder).allowed
        ), (action, env, holder)


# -- the reasons: which principal allowed, and refusals a person can act on ----------------------


def reason(
    rules: AccessRules, actor: Actor, action: str, env: str = "dev", holder: Holder | None = None
) -> str:
    return decide(rules, actor, action, env, holder).reason


def test_allowances_name_the_principal_that_matched() -> None:
    bob = ACTORS["bob"]
    assert decide(DEFAULTS, system("schedule"), "destroy", "prod", OTHERS) == Decision(True, "dbvend itself")
    assert reason(DEFAULTS, ACTORS["key:root"], "destroy", holder=OTHERS) == "admin (role:admin)"
    assert reason(DEFAULTS, ACTORS["carol"], "modify", holder=OTHERS) == "admin (permission:write)"
    assert reason(PLATFORM_ADMINS, bob, "destroy", holder=ALICES) == "admin (team:platform)"
    assert reason(DEFAULTS, alice("comment"), "extend", holder=ALICES) == "owner"
    assert reason(DEFAULTS, alice("comment"), "extend", holder=PAYMENTS) == "team:payments"
    assert reason(DEFAULTS, bob, "request") == "anyone"
    assert reason(PROD_PLATFORM, bob, "request", "prod") == "team:platform"
    assert reason(DEFAULTS, bob, "view", holder=ALICES) == "fleet: everyone"
    assert reason(DEFAULTS, bob, "audit") == "audit: everyone"


def test_refusals_name_the_rule_and_who_it_allows() -> None:
    bob, ci = ACTORS["bob"], ACTORS["key:ci"]
    assert reason(DEFAULTS, bob, "destroy", holder=PAYMENTS) == (
        "@bob may not destroy dev/billing: dbvend.yaml's access.destroy allows its owner,"
        " its team (Payments) and admins"
    )
    assert reason(DEFAULTS, ci, "modify", holder=None) == (
        "key:ci may not modify a database in dev: dbvend.yaml's access.modify allows its owner, its team"
        " and admins"
    )
    assert reason(DEFAULTS, ACTORS["key:dash"], "request") == "key:dash has the reader role: it only reads"
    assert reason(FLEET_OWN, bob, "view", holder=ALICES) == (
        "@bob may not see dev/orders: dbvend.yaml's access.fleet is own: it shows a database to its"
        " owner, its team (search) and admins"
    )
    assert reason(AUDIT_ADMINS, bob, "audit") == (
        "@bob may not read the audit trail: dbvend.yaml's access.audit allows admins only"
    )
    anonymous = Holder(None, None, None)
    assert reason(DEFAULTS, bob, "extend", "staging", anonymous).startswith(
        "@bob may not extend this database in staging: "
    )


def test_explicit_principals_are_described_in_words() -> None:
    rules = AccessRules(
        destroy=("user:dana", "key:deploy", "role:requester", "permission:maintain", "permission:admin")
    )
    assert reason(rules, ACTORS["key:dash"].at("api"), "view") == "fleet: everyone"
    refusal = reason(rules, ACTORS["bob"], "destroy", holder=OTHERS)
    assert refusal.endswith(
        "access.destroy allows user dana, key deploy, keys with the requester role, people with maintain"
        " permission or more, people with admin permission and admins"
    )


def test_a_refused_request_says_where_the_actor_may_request() -> None:
    alice_ = alice("issue")
    assert reason(PROD_PLATFORM, alice_, "request", "prod") == (
        "@alice may not request a database in prod: dbvend.yaml's access.request.prod allows team"
        " platform and admins; it may request in every environment but prod"
    )
    only_dev = AccessRules(request={"dev": ("anyone",), "staging": ("team:platform",)})
    assert reason(only_dev, alice_, "request", "prod") == (
        "@alice may not request a database in prod: dbvend.yaml's access.request has no rule for"
        ' prod (nor "*"): only admins may; it may request in dev'
    )
    nowhere = AccessRules(request={"*": ()})
    assert reason(nowhere, alice_, "request", "dev") == (
        '@alice may not request a database in dev: dbvend.yaml\'s access.request["*"] allows admins;'
        " it may request in no environment"
    )
    assert decide(nowhere, ACTORS["carol"], "request", "dev").allowed


# -- who owns a database -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holder", "owns"),
    [
        (Holder("GitHub:Alice", None, None), True),
        (Holder(None, "Alice", None), True),
        (Holder(None, "@alice", None), True),
        (Holder(None, "github:alice", None), True),
        (Holder(None, "alice@example.com", None), False),
        (Holder("github:alicia", "alicia", None), False),
        (Holder("key:alice", "key:alice", None), False),
        (Holder(None, None, "PAYMENTS"), True),  # her team's
        (Holder(None, None, "payments-eu"), False),
    ],
)
def test_a_person_owns_by_requester_or_owner_field(holder: Holder, owns: bool) -> None:
    for door in ("portal", "issue", "comment"):
        assert decide(DEFAULTS, alice(door), "destroy", "dev", holder).allowed is owns


@pytest.mark.parametrize(
    ("holder", "owns"),
    [
        (Holder("key:ci", None, None), True),
        (Holder(None, "key:ci", None), True),
        (Holder(None, "ci", None), False),  # a GitHub login ci, not the key
        (Holder("github:ci", None, None), False),
    ],
)
def test_a_key_owns_by_its_name(holder: Holder, owns: bool) -> None:
    assert decide(DEFAULTS, ACTORS["key:ci"], "extend", "dev", holder).allowed is owns


def test_a_legacy_ledger_requester_is_the_unnamed_key_of_the_same_hash_prefix() -> None:
    legacy = Holder("key-0123456789ab", None, None)
    assert decide(DEFAULTS, api_key("0123456789ab", "requester"), "extend", "dev", legacy).allowed
    assert not decide(DEFAULTS, api_key("ci", "requester"), "extend", "dev", legacy).allowed


def test_permission_principals_mean_that_permission_or_more() -> None:
    rules = AccessRules(admins=(), extend=("permission:triage",))
    allowed = {
        permission: decide(
            rules, person("p", "comment", permission=permission), "extend", "dev", OTHERS
        ).allowed
        for permission in (None, "none", "read", "triage", "write", "maintain", "admin")
    }
    assert allowed == {
        None: False,
        "none": False,
        "read": False,
        "triage": True,
        "write": True,
        "maintain": True,
        "admin": True,
    }


def test_a_reader_only_reads_even_when_it_is_an_admin() -> None:
    rules = AccessRules(admins=("key:dash",), fleet="own", audit="admins")
    dash = ACTORS["key:dash"]
    assert decide(rules, dash, "view", "dev", OTHERS) == Decision(True, "admin (key:dash)")
    assert decide(rules, dash, "audit", "dev").allowed and may_see_all(rules, dash)
    assert not decide(rules, dash, "destroy", "dev", CIS).allowed


def test_without_a_holder_only_admins_and_named_principals_match() -> None:
    rules = AccessRules(destroy=("owner", "team", "user:alice"))
    assert decide(rules, alice("portal"), "destroy", "dev").allowed
    assert not decide(rules, ACTORS["bob"], "destroy", "dev").allowed
    assert decide(rules, ACTORS["carol"], "destroy", "dev").allowed


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="'delete' is not an action"):
        decide(DEFAULTS, alice("portal"), "delete", "dev")
    with pytest.raises(ValueError, match="'delete' is not an action"):
        teams_to_check(DEFAULTS, "delete", "dev")


def test_may_see_all() -> None:
    assert all(may_see_all(DEFAULTS, actor) for actor in ACTORS.values())
    assert {name for name, actor in ACTORS.items() if may_see_all(FLEET_OWN, actor)} == {"key:root", "carol"}
    assert may_see_all(FLEET_OWN, system("portal"))
    assert may_see_all(replace(FLEET_OWN, admins=("team:platform",)), ACTORS["bob"])


# -- teams_to_check -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "action", "env", "holder", "teams"),
    [
        (DEFAULTS, "request", "prod", None, set()),  # anyone
        (DEFAULTS, "destroy", "dev", PAYMENTS, {"payments"}),
        (DEFAULTS, "destroy", "dev", CIS, set()),  # no team
        (DEFAULTS, "destroy", "dev", None, set()),
        (DEFAULTS, "view", "dev", PAYMENTS, set()),  # fleet: everyone
        (DEFAULTS, "audit", "dev", None, set()),
        (PROD_PLATFORM, "request", "prod", None, {"platform"}),
        (PROD_PLATFORM, "request", "dev", None, set()),
        (FLEET_OWN, "view", "dev", OTHERS, {"platform"}),
        (PLATFORM_ADMINS, "extend", "dev", PAYMENTS, {"platform", "payments"}),
        (PLATFORM_ADMINS, "request", "dev", None, set()),
        (replace(AUDIT_ADMINS, admins=("team:SRE", "permission:write")), "audit", "dev", None, {"sre"}),
        (AccessRules(modify=("team:dba", "owner")), "modify", "dev", PAYMENTS, {"dba"}),
    ],
)
def test_teams_to_check(
    rules: AccessRules, action: str, env: str, holder: Holder | None, teams: set[str]
) -> None:
    assert teams_to_check(rules, action, env, holder) == teams


# -- principals and dbvend.yaml's access: ----------------------------------------------------------


def test_principals_are_read_in_their_canonical_form() -> None:
    assert principal("team:Platform") == "team:platform"
    assert principal("user:Alice") == "user:alice"
    assert principal("permission:maintain") == "permission:maintain"
    for bad in (
        "Owner",
        "tem:platform",
        "team:",
        "permission:read",
        "role:root",
        "key:CI",
        "user:a b",
        5,
        None,
    ):
        with pytest.raises(ValueError):
            principal(bad)


def with_access(section: str) -> str:
    text = default_catalog_text()
    assert not re.search(r"^access:", text, re.M)
    return text + "\naccess:\n" + indent(dedent(section), "  ")


def test_without_access_the_defaults_apply() -> None:
    assert parse_catalog(default_catalog_text()).access == AccessRules()
    catalog = Catalog(region="", state=None, engines={}, environments={}, tags={}, alarms=None)  # type: ignore[arg-type]
    assert catalog.access == AccessRules()


def test_the_packaged_example_is_the_defaults() -> None:
    text = default_catalog_text()
    example = re.search(r"^# access:\n(?:#.*\n)+", text, re.M)
    assert example is not None
    uncommented = "".join(line[2:] + "\n" for line in example.group(0).splitlines())
    assert parse_catalog(text.replace(example.group(0), uncommented)).access == AccessRules()


def test_the_access_section_is_read() -> None:
    access = parse_catalog(
        with_access(
            """\
              admins: [team:Platform, user:Root-Admin, role:admin]
              request:
                prod: [team:platform, key:deploy]
              destroy: [owner, admins]
              fleet: own
              audit: admins
            """
        )
    ).access
    assert access == AccessRules(
        admins=("team:platform", "user:root-admin", "role:admin"),
        request={"*": ("anyone",), "prod": ("team:platform", "key:deploy")},  # "*" keeps its default
        destroy=("owner", "admins"),
        fleet="own",
        audit="admins",
    )
    nobody = parse_catalog(with_access('request: {"*": [], dev: [anyone]}\nextend: null\n')).access
    assert nobody.request == {"*": (), "dev": ("anyone",)} and nobody.extend == AccessRules().extend


FORMS = (
    "anyone, owner, team, admins, team:<slug>, user:<login>, key:<name>, role:<admin|requester|reader>,"
    " permission:<triage|write|maintain|admin>"
)


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        (
            "request:\n  prod: [team:platform, tem:platform]\n",
            "access.request.prod[1]",
            f'"tem:platform" is not a principal: {FORMS}',
        ),
        (
            "request:\n  qa: [anyone]\n",
            "access.request.qa",
            'must be "*" or an environment of this file: dev,',
        ),
        ("request:\n  prod: null\n", "access.request.prod", "must be a list of principals"),
        ("request:\n  prod: [team]\n", "access.request.prod[0]", "which a request does not have yet"),
        ("admins: [role:admin, owner]\n", "access.admins[1]", '"owner" cannot be an admin'),
        ("admins: [anyone]\n", "access.admins[0]", '"anyone" cannot be an admin'),
        ("destory: [owner]\n", "access.destory", "is not a known key (known: admins, request,"),
        ("extend: owner\n", "access.extend", "must be a list of principals: anyone, owner"),
        ("extend: [5]\n", "access.extend[0]", "5 is not a principal"),
        ("modify: [team:Ops, team:ops]\n", "access.modify[1]", '"team:ops" is listed twice'),
        ("destroy: [permission:read]\n", "access.destroy[0]", '"permission:read" is not a principal'),
        ("fleet: mine\n", "access.fleet", "must be everyone or own"),
        ("audit: nobody\n", "access.audit", "must be everyone or admins"),
        ("  - anyone\n", "access", "must be a mapping"),
    ],
)
def test_access_errors_name_their_path(section: str, key: str, words: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(with_access(section), "infra/dbvend.yaml")
    assert caught.value.key == key and words in caught.value.rule
    assert f": {key}: " in str(caught.value)


def test_access_errors_name_their_line() -> None:
    text = with_access("extend: [owner]\nmodify: [owner, teem]\n")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    assert caught.value.line == text.splitlines().index("  modify: [owner, teem]") + 1


def test_every_action_has_a_rule() -> None:
    for action in ACTIONS:
        teams_to_check(DEFAULTS, action, "dev")
        decide(DEFAULTS, alice("portal"), action, "dev", ALICES)


def test_rules_built_in_code_are_checked_too() -> None:
    assert AccessRules(admins=("team:SRE",), request={"prod": ("user:Dana",)}).admins == ("team:sre",)
    assert AccessRules(request={"prod": ("user:Dana",)}).request == {"prod": ("user:dana",)}
    for broken in (
        {"admins": ("owner",)},
        {"destroy": ("tem:platform",)},
        {"request": {"prod": ("nobody",)}},
        {"fleet": "mine"},
        {"audit": "nobody"},
    ):
        with pytest.raises(ValueError):
            AccessRules(**broken)  # type: ignore[arg-type]
