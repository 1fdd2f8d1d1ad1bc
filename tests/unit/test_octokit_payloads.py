"""tests/support/github_payloads.py against GitHub's own example deliveries (@octokit/webhooks-examples),
key by key.

For each (event, action) a builder produces, every key path of every example of that event and action
must be in the builder's payload with a compatible JSON type (null goes with anything; lists compare
their first elements). An action GitHub publishes no example of is compared with all the event's
examples, on the top-level keys they all share. The other way round, a key the builder has and no
example shows must be in ALLOWED_EXTRAS with its reason, and githubkit's webhook models (GitHub's
schema, newer than the examples) must declare it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from githubkit import webhooks
from pydantic import BaseModel

from tests.support import github_payloads as gh
from tests.support import octokit
from tests.support.octokit import example, require_octokit, webhook_examples

Payload = dict[str, Any]
Build = Callable[[], Payload]
Case = tuple[str, str | None]

PR_BRANCH = "dbvend/dev/orders"
SHA = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


def _issues(action: str, **options: Any) -> Build:
    return lambda: gh.issues(action, 12, "[dbvend] orders", "### Engine\n\npostgres", **options)


# Every (event, action) the builders produce, with the variants of it that differ in shape.
CASES: dict[Case, dict[str, Build]] = {
    ("issues", "opened"): {"form": _issues("opened")},
    ("issues", "edited"): {"body and title": _issues("edited", previous_body="old", previous_title="t")},
    ("issues", "closed"): {"closed": _issues("closed")},
    ("issues", "reopened"): {"reopened": _issues("reopened")},
    ("issues", "labeled"): {"labeled": _issues("labeled", labels=("database-request", "dev"))},
    ("issue_comment", "created"): {
        "on a pull request": lambda: gh.issue_comment("created", 5, "/plan", "bob", labels=("dbvend",)),
        "on an issue": lambda: gh.issue_comment("created", 5, "hi", "bob", on_pull_request=False),
        "by a bot": lambda: gh.issue_comment("created", 5, "ok", "dbvend[bot]", commenter_type="Bot"),
    },
    ("issue_comment", "edited"): {
        "on a pull request": lambda: gh.issue_comment("edited", 5, "/apply", "bob", previous_body="/plan"),
        "on an issue": lambda: gh.issue_comment("edited", 5, "b", "bob", on_pull_request=False),
    },
    ("issue_comment", "deleted"): {
        "on a pull request": lambda: gh.issue_comment("deleted", 5, "/plan", "bob"),
        "on an issue": lambda: gh.issue_comment("deleted", 5, "b", "bob", on_pull_request=False),
    },
    ("pull_request", "opened"): {
        "labeled": lambda: gh.pull_request("opened", 5, PR_BRANCH, labels=("dbvend",))
    },
    ("pull_request", "reopened"): {
        "reopened": lambda: gh.pull_request("reopened", 5, PR_BRANCH, labels=("x",))
    },
    ("pull_request", "synchronize"): {
        "pushed": lambda: gh.pull_request("synchronize", 5, PR_BRANCH, head_sha=SHA, labels=("x",))
    },
    ("pull_request", "closed"): {
        "merged": lambda: gh.pull_request("closed", 5, PR_BRANCH, merged=True, labels=("x",)),
        "not merged": lambda: gh.pull_request("closed", 5, PR_BRANCH),
    },
    ("workflow_run", "requested"): {
        "for a PR": lambda: gh.workflow_run("requested", "t", None, pull_numbers=(5,))
    },
    ("workflow_run", "in_progress"): {
        "dispatched": lambda: gh.workflow_run("in_progress", "dbvend plan #5", None)
    },
    ("workflow_run", "completed"): {
        "for a PR": lambda: gh.workflow_run(
            "completed", "x", "failure", head_branch=PR_BRANCH, pull_numbers=(5,)
        ),
        "dispatched": lambda: gh.workflow_run("completed", "dbvend apply #5", "success"),
    },
    ("check_suite", "requested"): {
        "for a PR": lambda: gh.check_suite("requested", PR_BRANCH, SHA, None, (5,))
    },
    ("check_suite", "rerequested"): {
        "for a PR": lambda: gh.check_suite("rerequested", PR_BRANCH, SHA, None, (5,))
    },
    ("check_suite", "completed"): {
        "for two PRs": lambda: gh.check_suite("completed", PR_BRANCH, SHA, "success", (5, 6)),
        "another app": lambda: gh.check_suite("completed", "main", SHA, "neutral", app_name="Lint"),
    },
    ("ping", None): {"repository hook": lambda: gh.ping()},
}
ENVELOPE_OF: Build = CASES["issues", "opened"]["form"]


@dataclass(frozen=True)
class AllowedExtra:
    """Keys the builders have and no example shows, under parents matching a pattern.

    A pattern is a dotted path ("" is the top level, "labels[]" a list's elements); `*` is any one
    segment, `**` any number. githubkit must declare each key there, or at `declared_at`
    ((event, action), path: the first variant of that case) when GitHub's schema is inconsistent.
    """

    parents: tuple[str, ...]
    keys: frozenset[str]
    reason: str
    declared_at: tuple[Case, str] | None = None


ALLOWED_EXTRAS = (
    AllowedExtra(
        ("",),
        frozenset({"installation", "organization"}),
        "dbvend's App is installed on an organization: each delivery has both; most examples were recorded"
        " by a repository webhook on a user's repository",
    ),
    AllowedExtra(
        ("**",),
        frozenset({"user_view_type"}),
        "accounts: user_view_type is newer than the examples (githubkit's workflow_run.in_progress lacks it)",
        declared_at=(("issues", "opened"), "sender"),
    ),
    AllowedExtra(
        ("repository", "pull_request.*.repo"),
        frozenset({"allow_forking", "has_discussions"}),
        "repositories: settings GitHub added after the examples were recorded",
    ),
    AllowedExtra(
        ("pull_request.*.repo",),
        frozenset(
            {
                "allow_auto_merge",
                "allow_merge_commit",
                "allow_rebase_merge",
                "allow_squash_merge",
                "allow_update_branch",
                "delete_branch_on_merge",
                "merge_commit_message",
                "merge_commit_title",
                "squash_merge_commit_message",
                "squash_merge_commit_title",
            }
        ),
        "a pull request's head and base repositories carry the merge settings; the opened examples have"
        " the older ones, the other actions' examples predate them all",
    ),
    AllowedExtra(
        ("issue",),
        frozenset(
            {
                "issue_dependencies_summary",
                "performed_via_github_app",
                "state_reason",
                "sub_issues_summary",
                "timeline_url",
                "type",
            }
        ),
        "issues: close reasons, sub-issues, issue types, dependencies and the timeline and App links are"
        " newer than some or all of the examples",
    ),
    AllowedExtra(
        ("issue",),
        frozenset({"pull_request"}),
        "a comment on a pull request: GitHub's issue_comment examples are all on plain issues",
    ),
    AllowedExtra(
        ("label", "issue.labels[]", "pull_request.labels[]"),
        frozenset({"archived_at", "archived_by"}),
        "labels: GitHub's schema requires both on an issue's labels (and archived_by on most pull"
        " requests'); one label has one shape, and the examples predate label archiving",
        declared_at=(("issues", "labeled"), "label"),
    ),
    AllowedExtra(
        ("changes",),
        frozenset({"body", "title"}),
        "issues.edited: the examples edit nothing (changes is {}); GitHub sends the old body or title",
    ),
    AllowedExtra(
        ("check_suite",),
        frozenset({"rerequestable", "runs_rerequestable"}),
        "check suites: newer than the examples",
    ),
    AllowedExtra(("check_suite.app",), frozenset({"slug"}), "Apps: the slug is newer than the examples"),
    AllowedExtra(
        ("check_suite.head_commit.author", "check_suite.head_commit.committer"),
        frozenset({"username"}),
        "GitHub names the account of a head commit's author and committer: the newest check_suite example"
        " (requested) has it, the older ones predate it",
    ),
    AllowedExtra(
        ("workflow_run",), frozenset({"referenced_workflows"}), "workflow runs: newer than the examples"
    ),
)

# Example keys GitHub sends only in situations the builders do not build: (event, action, path) -> why.
SITUATIONAL: dict[tuple[str, str | None, str], str] = {
    ("issues", "opened", "changes"): "an issue transferred from another repository opens with its old one",
    ("issues", "closed", "issue.pull_request"): "examples of other actions on a pull request's issue;"
    " dbvend's issue forms are plain issues",
    ("ping", None, "hook.app_id"): "a hook an App created names it; the builder's is one a person made",
    ("ping", None, "organization"): "an organization hook's ping (it has no repository); the builder's"
    " is a repository hook's",
}

# Objects whose keys are data, not schema: only their values' types are compared.
MAPS: dict[str, str] = {
    "check_suite.app.permissions": "which permissions an App has is its own choice",
}


# ---- the comparison


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not JSON: {value!r}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def shape_problems(
    expected: object, built: object, path: str = "", *, situational: frozenset[str] = frozenset()
) -> Iterator[str]:
    """Where `built` lacks a key of `expected` or holds another JSON type (null matches anything)."""
    if expected is None or built is None:
        return
    if json_kind(expected) != json_kind(built):
        yield f"{path or '<payload>'}: GitHub's is {json_kind(expected)}, the builder's {json_kind(built)}"
    elif isinstance(expected, dict) and isinstance(built, dict):
        if path in MAPS:
            kinds = {json_kind(value) for value in expected.values()} - {"null"}
            for key, value in built.items():
                if kinds and json_kind(value) not in kinds | {"null"}:
                    yield f"{_join(path, key)}: GitHub's values are {'/'.join(sorted(kinds))}"
            return
        for key, value in expected.items():
            child = _join(path, key)
            if key in built:
                yield from shape_problems(value, built[key], child, situational=situational)
            elif child not in situational:
                yield f"{child}: missing (GitHub's is {json_kind(value)}: {_preview(value)})"
    elif isinstance(expected, list) and isinstance(built, list) and expected and built:
        yield from shape_problems(expected[0], built[0], f"{path}[]", situational=situational)


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def object_paths(value: object, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, object) for every object in a payload, lists by their first element."""
    if isinstance(value, dict):
        yield path, value
        if path in MAPS:
            return
        for key, child in value.items():
            yield from object_paths(child, _join(path, key))
    elif isinstance(value, list) and value:
        yield from object_paths(value[0], f"{path}[]")


def extra_keys(examples: list[Payload], built: Payload) -> list[str]:
    """Key paths of `built` under an object the examples show, which none of the examples has."""
    shown: dict[str, set[str]] = {}
    for payload in examples:
        for path, obj in object_paths(payload):
            shown.setdefault(path, set()).update(obj)
    return [
        _join(path, key)
        for path, obj in object_paths(built)
        if path in shown and path not in MAPS
        for key in obj
        if key not in shown[path]
    ]


def _pattern_matches(pattern: list[str], segments: list[str]) -> bool:
    if not pattern:
        return not segments
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_pattern_matches(rest, segments[start:]) for start in range(len(segments) + 1))
    return bool(segments) and head in ("*", segments[0]) and _pattern_matches(rest, segments[1:])


def allowance(path: str) -> AllowedExtra | None:
    parent, _, key = path.rpartition(".")
    segments = parent.split(".") if parent else []
    for allowed in ALLOWED_EXTRAS:
        patterns = ([] if not p else p.split(".") for p in allowed.parents)
        if key in allowed.keys and any(_pattern_matches(pattern, segments) for pattern in patterns):
            return allowed
    return None


def githubkit_model(event: str, payload: Payload) -> BaseModel:
    model = webhooks.parse_obj(event, payload)
    assert isinstance(model, BaseModel)
    return model


def githubkit_declares(delivery: BaseModel, path: str) -> str | None:
    """None if githubkit's model of a delivery declares the key at `path`; otherwise why not."""
    model: object = delivery
    *parents, key = path.split(".")
    for segment in parents:
        name = segment.removesuffix("[]")
        if not isinstance(model, BaseModel):
            return f"githubkit has no model at {segment!r} ({type(model).__name__})"
        fields = {
            field.alias or attribute: attribute for attribute, field in type(model).model_fields.items()
        }
        if name not in fields:
            return f"githubkit's {type(model).__name__} has no {name!r}"
        model = getattr(model, fields[name])
        if segment.endswith("[]"):
            model = model[0] if isinstance(model, list) and model else None
    if not isinstance(model, BaseModel):
        return f"githubkit has no model at {path.rpartition('.')[0]!r}"
    declared = {field.alias or attribute for attribute, field in type(model).model_fields.items()}
    return None if key in declared else f"githubkit's {type(model).__name__} does not declare {key!r}"


def examples_of(event: str, action: str | None) -> list[Payload]:
    """GitHub's examples of the event and action; without any, the event's, on the keys they all share."""
    everything = webhook_examples()[event]
    matching = [payload for payload in everything if payload.get("action") == action]
    if matching:
        return matching
    shared = set.intersection(*(set(payload) for payload in everything))
    return [{key: value for key, value in payload.items() if key in shared} for payload in everything]


@dataclass
class Findings:
    problems: list[str]
    used: set[str]  # the allowances, situations and maps that were needed


def compare(
    event: str,
    action: str | None,
    examples: list[Payload],
    built: Payload,
    label: str,
    *,
    delivery: Payload | None = None,
) -> Findings:
    """`built` against each example; githubkit reads `delivery` (default: built) for the extras."""
    findings = Findings([], set())
    parsed: list[BaseModel] = []  # githubkit's reading of the delivery, made once, when needed
    situational = frozenset(path for (e, a, path) in SITUATIONAL if (e, a) == (event, action))
    for index, payload in enumerate(examples):
        for problem in shape_problems(payload, built, situational=situational):
            findings.problems.append(f"{label} vs GitHub's example {index}: {problem}")
        findings.used |= {
            f"situational {path}"
            for path in situational
            if _has_path(payload, path) and not _has_path(built, path)
        }
        findings.used |= {f"map {path}" for path in MAPS if _has_path(payload, path)}
    for path in extra_keys(examples, built):
        allowed = allowance(path)
        if allowed is None:
            findings.problems.append(
                f"{label}: {path} is in no example of GitHub's: remove it, or allow it in ALLOWED_EXTRAS"
            )
            continue
        findings.used.add(f"allowed {allowed.reason}")
        parsed = parsed or [githubkit_model(event, delivery or built)]
        why_not = githubkit_declares(parsed[0], path)
        if why_not and allowed.declared_at:
            (witness_event, witness_action), witness_path = allowed.declared_at
            witness = githubkit_model(
                witness_event, next(iter(CASES[witness_event, witness_action].values()))()
            )
            why_not = githubkit_declares(witness, f"{witness_path}.{path.rpartition('.')[2]}")
        if why_not:
            findings.problems.append(f"{label}: {path} is allowed, but {why_not}")
    return findings


def _has_path(payload: object, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(payload, dict) or key not in payload:
            return False
        payload = payload[key]
    return True


def compare_case(case: Case) -> Findings:
    event, action = case
    examples = examples_of(event, action)
    findings = Findings([], set())
    for variant, build in CASES[case].items():
        found = compare(event, action, examples, build(), variant)
        findings.problems += found.problems
        findings.used |= found.used
    return findings


ENVELOPE_EVENTS = sorted({event for event, _ in CASES})


def compare_envelope(key: str) -> Findings:
    """The builders' `key` against that key of every example of the events they build, any action."""
    examples = [
        {key: payload[key]}
        for event in ENVELOPE_EVENTS
        for payload in webhook_examples()[event]
        if key in payload
    ]
    assert examples, f"no example of {', '.join(ENVELOPE_EVENTS)} has {key!r}"
    delivery = ENVELOPE_OF()
    return compare("issues", "opened", examples, {key: delivery[key]}, f"envelope {key}", delivery=delivery)


# ---- the tests


@pytest.mark.parametrize("case", list(CASES), ids=[f"{e}.{a}" if a else e for e, a in CASES])
def test_builder_has_every_key_of_githubs_examples(case: Case) -> None:
    require_octokit()
    problems = compare_case(case).problems
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", ["installation", "organization", "repository"])
def test_envelope_has_every_key_of_githubs_examples(key: str) -> None:
    require_octokit()
    problems = compare_envelope(key).problems
    assert not problems, "\n".join(problems)


def test_every_allowance_is_still_needed() -> None:
    require_octokit()
    used: set[str] = set()
    for case in CASES:
        used |= compare_case(case).used
    for key in ("installation", "organization", "repository"):
        used |= compare_envelope(key).used
    declared = (
        {f"allowed {allowed.reason}" for allowed in ALLOWED_EXTRAS}
        | {f"situational {path}" for _, _, path in SITUATIONAL}
        | {f"map {path}" for path in MAPS}
    )
    assert not declared - used, f"no longer needed: {sorted(declared - used)}"


def test_the_comparison_catches_a_missing_key_a_wrong_type_and_an_unlisted_extra() -> None:
    require_octokit()
    github = example("issues", "opened")
    built = CASES["issues", "opened"]["form"]()
    assert not compare("issues", "opened", [github], built, "form").problems
    broken = copy.deepcopy(built)
    del broken["issue"]["number"]
    broken["issue"]["title"] = 12
    broken["issue"]["user"] = {**built["issue"]["user"], "made_up": True}  # not the sender's too
    problems = compare("issues", "opened", [github], broken, "broken", delivery=built).problems
    assert len(problems) == 3, problems
    assert "issue.number: missing" in problems[0]
    assert "issue.title: GitHub's is string, the builder's number" in problems[1]
    assert "issue.user.made_up is in no example" in problems[2]


def test_lists_compare_their_first_elements() -> None:
    github = {"labels": [{"name": "bug", "id": 1}], "events": ["push"]}
    assert list(shape_problems(github, {"labels": [], "events": []})) == []
    assert list(shape_problems(github, {"labels": [{"name": "x"}], "events": [3]})) == [
        "labels[].id: missing (GitHub's is number: 1)",
        "events[]: GitHub's is string, the builder's number",
    ]
    assert extra_keys([github], {"labels": [{"name": "x", "id": 2, "new": 0}]}) == ["labels[].new"]


def test_an_extra_needs_githubkit_to_declare_it() -> None:
    opened = githubkit_model("issues", gh.issues("opened", 1, "t", "b"))
    assert githubkit_declares(opened, "issue.sub_issues_summary") is None
    assert "does not declare 'made_up'" in str(githubkit_declares(opened, "issue.user.made_up"))
    # GitHub's schema is not one shape per object: an issue's labels are archivable in one event only.
    assert "does not declare 'archived_at'" in str(githubkit_declares(opened, "issue.labels[].archived_at"))
    labeled = githubkit_model("issues", gh.issues("labeled", 1, "t", "b"))
    assert githubkit_declares(labeled, "issue.labels[].archived_at") is None


def test_examples_are_deep_copies() -> None:
    require_octokit()
    first = example("ping")
    first["hook"]["events"].append("changed")
    assert example("ping") != first
    assert example("check_suite", "completed", 1)["action"] == "completed"
    with pytest.raises(IndexError, match="check_suite"):
        example("check_suite", "completed", 99)
    with pytest.raises(KeyError):
        example("no_such_event")


def test_missing_shapes_fail_under_ci_and_skip_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(octokit, "GRAPHQL_SCHEMA", octokit.OCTOKIT / "not-installed" / "schema.graphql")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI must compare .* npm ci --prefix tests/octokit"):
        require_octokit()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="npm ci --prefix tests/octokit"):
        require_octokit()
