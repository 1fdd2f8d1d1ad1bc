"""engine/commands.py: parsing pull-request comments into commands, and who may run them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from engine.commands import (
    HELP_TEXT,
    ApplyRules,
    CheckResult,
    Command,
    Ignore,
    PullRequestFacts,
    Refusal,
    Reply,
    Review,
    authorize,
    parse_comment,
    standing_reviews,
)

# -- parse_comment: what is a command -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("/plan", Command("plan")),
        ("/apply", Command("apply")),
        ("/destroy", Command("destroy")),
        ("/extend 7d", Command("extend", "7d", timedelta(days=7))),
        ("/extend 12h", Command("extend", "12h", timedelta(hours=12))),
        ("/extend 1h", Command("extend", "1h", timedelta(hours=1))),
        ("/extend 48h", Command("extend", "48h", timedelta(hours=48))),
        ("/extend  30d", Command("extend", "30d", timedelta(days=30))),
        # Whitespace around the body and the first line, and any line ending.
        ("  /apply  ", Command("apply")),
        ("\n\n   /apply\n", Command("apply")),
        ("\t/plan\t", Command("plan")),
        ("/apply\r\nthanks!", Command("apply")),
        ("/apply\rthanks!", Command("apply")),
        ("/destroy\r\n", Command("destroy")),
        ("/extend 7d\r\nfor the demo on Friday", Command("extend", "7d", timedelta(days=7))),
        # Only the first line counts: what follows is commentary.
        ("/plan\n/apply", Command("plan")),
        ("/apply\n\n> /destroy", Command("apply")),
    ],
)
def test_commands_on_the_first_line_are_parsed(body: str, command: Command) -> None:
    assert parse_comment(body) == command


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   \r\n  ",
        "LGTM",
        "looks good, /apply when ready",
        "please\n/apply",  # not the first line
        "thanks!\r\n/apply",
        "> /apply",  # quoting someone
        ">/apply",
        "> /apply\n\nno, wait",
        "```\n/apply\n```",  # code fence
        "```sh\n/apply\n```",
        "~~~\n/apply\n~~~",
        "`/apply`",  # inline code
        "`/apply` is how you apply",
        "    `/destroy`",
        "- /apply",  # list item
        "**/apply**",
        "/",  # not command-shaped
        "/ apply",
        "//apply",
        "/etc/hosts is wrong",
        "/1apply",
        "\u200b/apply",  # a zero-width space in front is not a command
        "/apply\u200b",
    ],
)
def test_anything_but_a_command_on_the_first_line_is_ignored(body: str) -> None:
    assert parse_comment(body) == Ignore()


@pytest.mark.parametrize(
    "body",
    [
        "atlantis apply",
        "atlantis plan -d .",
        "/atlantis apply",
        "/atlantis plan -- -var=x",
        "/Atlantis apply",
        "/digger apply",
        "digger plan",
        "/terrateam apply",
        "@atlantis apply",
        "@dbvend apply",
    ],
)
def test_commands_for_other_bots_are_ignored(body: str) -> None:
    assert parse_comment(body) == Ignore()


@pytest.mark.parametrize("body", ["/help", "/help apply", "  /help\r\nplease", "/help\n/apply"])
def test_help_replies_with_the_help_text(body: str) -> None:
    assert parse_comment(body) == Reply(HELP_TEXT)


def test_help_text_lists_every_command() -> None:
    for command in ("/plan", "/apply", "/destroy", "/extend <duration>", "/help"):
        assert f"`{command}`" in HELP_TEXT


# -- parse_comment: replies -------------------------------------------------------------------


def reply_text(body: str) -> str:
    result = parse_comment(body)
    assert isinstance(result, Reply), result
    return result.text


@pytest.mark.parametrize(
    ("body", "suggestion"),
    [
        ("/aply", "/apply"),
        ("/appply", "/apply"),
        ("/apply!", "/apply"),
        ("/apply.", "/apply"),
        ("/applyy", "/apply"),
        ("/apply-now", "/apply"),
        ("/plna", "/plan"),
        ("/plans", "/plan"),
        ("/destory", "/destroy"),
        ("/destroy!", "/destroy"),
        ("/extned 7d", "/extend"),
        ("/hlep", "/help"),
        ("/deploy", None),  # not "/destroy"
        ("/lgtm", None),
        ("/retest", None),
    ],
)
def test_unknown_commands_get_help_and_a_suggestion_when_close(body: str, suggestion: str | None) -> None:
    text = reply_text(body)
    assert text.startswith(f"`{body.split()[0]}` is not a dbvend command.")
    assert HELP_TEXT in text
    if suggestion is None:
        assert "did you mean" not in text.lower()
    else:
        assert f"Did you mean `{suggestion}`?" in text


@pytest.mark.parametrize(
    ("body", "suggestion"),
    [
        ("/Apply", "/apply"),
        ("/APPLY", "/apply"),
        ("/Plan", "/plan"),
        ("/Destroy", "/destroy"),
        ("/HELP", "/help"),
    ],
)
def test_commands_are_lower_case_and_other_cases_get_a_suggestion(body: str, suggestion: str) -> None:
    text = reply_text(body)
    assert f"Did you mean `{suggestion}`? Commands are lower case." in text


@pytest.mark.parametrize(
    "body",
    [
        "/apply -target=aws_db_instance.x",
        "/apply -target aws_db_instance.x",
        "/plan -- -var=a",
        "/plan -var=a",
        "/plan -chdir=/tmp",
        "/apply -auto-approve",
        "/apply now",
        "/apply please",
        "/destroy -target=x",
        "/destroy everything",
        "/apply\u3000now",  # ideographic space is whitespace too
        "/apply \u200b",
    ],
)
def test_extra_arguments_are_refused_and_never_passed_through(body: str) -> None:
    text = reply_text(body)
    name = body.split()[0]
    assert f"`{name}` takes no arguments" in text
    assert "never passed through" in text
    # The arguments are not echoed back.
    assert body.split(maxsplit=1)[1] not in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/extend", "exactly one duration"),
        ("/extend   ", "exactly one duration"),
        ("/extend\n7d", "exactly one duration"),  # the duration must be on the first line
        ("/extend 7d 12h", "exactly one duration"),
        ("/extend 7d please", "exactly one duration"),
        ("/extend none", "`none` is not an extension"),
        ("/extend 7x", "`7x` is not a duration"),
        ("/extend 0h", "`0h` is not a duration"),
        ("/extend 7D", "`7D` is not a duration"),
        ("/extend 1w", "`1w` is not a duration"),
        ("/extend -7d", "`-7d` is not a duration"),
        ("/extend 7", "`7` is not a duration"),
        ("/extend 1.5d", "`1.5d` is not a duration"),
        ("/extend 100000d", "`100000d` is not a duration"),
        ("/extend forever", "`forever` is not a duration"),
    ],
)
def test_extend_needs_one_duration(body: str, expected: str) -> None:
    text = reply_text(body)
    assert expected in text
    assert "Usage: `/extend <duration>`" in text


@pytest.mark.parametrize("argument", ["@everyone", "<img/src=x>", "[x](http://evil)", "`7d`", "a" * 30])
def test_extend_does_not_echo_markup(argument: str) -> None:
    text = reply_text(f"/extend {argument}")
    assert text.startswith("That is not a duration.")
    assert argument not in text


# -- authorize --------------------------------------------------------------------------------

APPLY, DESTROY, PLAN = Command("apply"), Command("destroy"), Command("plan")
EXTEND = Command("extend", "7d", timedelta(days=7))
RULES = ApplyRules()
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


GREEN = (
    CheckResult("dbvend/plan", "completed", "success"),
    CheckResult("dbvend/policy", "completed", "success"),
    CheckResult("lint", "completed", "neutral"),
    CheckResult("docs", "completed", "skipped"),
)
# An approved, green, mergeable pull request, commented on by a writer who is not its author.
READY = PullRequestFacts(
    commenter="carol",
    permission="write",
    author="alice",
    reviews=(Review("bob", "APPROVED", at(1)),),
    checks=GREEN,
    mergeable=True,
    mergeable_state="clean",
)


def reasons(command: Command, facts: PullRequestFacts, rules: ApplyRules = RULES) -> tuple[str, ...]:
    refusal = authorize(command, facts, rules)
    assert refusal is not None, "expected a refusal"
    assert refusal.command == command.name
    return refusal.reasons


@pytest.mark.parametrize("command", [APPLY, DESTROY, PLAN, EXTEND])
@pytest.mark.parametrize("permission", ["write", "maintain", "admin", "WRITE", "Admin"])
def test_a_writer_may_run_every_command_on_an_approved_green_pull_request(
    command: Command, permission: str
) -> None:
    assert authorize(command, replace(READY, permission=permission), RULES) is None


@pytest.mark.parametrize("command", [APPLY, DESTROY, PLAN])
@pytest.mark.parametrize("permission", ["read", "triage", "none", "", "superuser"])
def test_every_command_needs_write_permission(command: Command, permission: str) -> None:
    got = reasons(command, replace(READY, permission=permission))
    shown = permission if permission in ("read", "triage", "none") else "none"
    assert got == (f"`carol` needs write permission on this repository (has {shown} permission)",)


@pytest.mark.parametrize("permission", ["read", "triage", "none", "", "superuser"])
def test_extend_is_left_to_the_access_rules(permission: str) -> None:
    """/extend and /modify change a database, not the pull request: dbvend.yaml's access rules decide
    them, as for every door (tests/unit/test_access.py; through GitHub: test_webhook_trust.py)."""
    assert authorize(EXTEND, replace(READY, permission=permission), RULES) is None
    assert authorize(EXTEND, replace(READY, permission=permission, author="Carol"), RULES) is None


@pytest.mark.parametrize("state", ["closed", "CLOSED", "merged"])
def test_extend_works_on_a_merged_pull_request(state: str) -> None:
    """The database lives on after its pull request is merged; so does /extend."""
    assert authorize(EXTEND, replace(READY, state=state), RULES) is None


@pytest.mark.parametrize("command", [PLAN, EXTEND])
def test_plan_and_extend_need_only_write_permission_on_an_open_pull_request(command: Command) -> None:
    unready = PullRequestFacts(
        commenter="alice",
        permission="write",
        author="alice",
        reviews=(Review("bob", "CHANGES_REQUESTED", at(1)),),
        checks=(CheckResult("lint", "completed", "failure"),),
        mergeable=False,
        draft=True,
    )
    assert authorize(command, unready, RULES) is None


@pytest.mark.parametrize("command", [APPLY, DESTROY, PLAN])
@pytest.mark.parametrize("state", ["closed", "CLOSED", "merged"])
def test_a_closed_pull_request_refuses_every_command(command: Command, state: str) -> None:
    assert reasons(command, replace(READY, state=state)) == (
        "the pull request is closed: commands run on open pull requests only",
    )


@pytest.mark.parametrize("command", [APPLY, DESTROY])
def test_apply_and_destroy_refuse_a_draft_unless_allowed(command: Command) -> None:
    draft = replace(READY, draft=True)
    assert reasons(command, draft) == ("the pull request is a draft: mark it ready for review first",)
    assert authorize(command, draft, replace(RULES, allow_draft=True)) is None


# -- reviews


@pytest.mark.parametrize(
    ("reviews", "allowed"),
    [
        ((), False),
        ((Review("bob", "APPROVED"),), True),
        ((Review("BOB", "approved"),), True),
        ((Review("bob", "COMMENTED"),), False),
        ((Review("bob", "PENDING"),), False),
        ((Review("bob", "DISMISSED"),), False),
        # The latest standing review of each reviewer wins.
        ((Review("bob", "CHANGES_REQUESTED", at(1)), Review("bob", "APPROVED", at(2))), True),
        ((Review("bob", "APPROVED", at(1)), Review("bob", "CHANGES_REQUESTED", at(2))), False),
        ((Review("bob", "APPROVED", at(1)), Review("bob", "DISMISSED", at(2))), False),
        ((Review("bob", "DISMISSED", at(1)), Review("bob", "APPROVED", at(2))), True),
        # Timestamps order the reviews even when they arrive out of order.
        ((Review("bob", "APPROVED", at(2)), Review("bob", "CHANGES_REQUESTED", at(1))), True),
        ((Review("bob", "CHANGES_REQUESTED", at(2)), Review("bob", "APPROVED", at(1))), False),
        # Without timestamps, the order given (GitHub lists reviews oldest first).
        ((Review("bob", "CHANGES_REQUESTED"), Review("bob", "APPROVED")), True),
        ((Review("bob", "APPROVED"), Review("bob", "CHANGES_REQUESTED")), False),
        # A later comment leaves an approval standing, as on GitHub.
        ((Review("bob", "APPROVED", at(1)), Review("bob", "COMMENTED", at(2))), True),
        ((Review("bob", "CHANGES_REQUESTED", at(1)), Review("bob", "COMMENTED", at(2))), False),
        # Logins ignore case.
        ((Review("bob", "APPROVED", at(1)), Review("Bob", "CHANGES_REQUESTED", at(2))), False),
        # Changes requested by anyone block, whoever else approved.
        ((Review("bob", "APPROVED", at(1)), Review("dave", "CHANGES_REQUESTED", at(2))), False),
        ((Review("dave", "CHANGES_REQUESTED", at(1)), Review("bob", "APPROVED", at(2))), False),
        ((Review("dave", "CHANGES_REQUESTED", at(1)), Review("dave", "APPROVED", at(3))), True),
        # The author's own approval does not count.
        ((Review("alice", "APPROVED"),), False),
        ((Review("Alice", "APPROVED"),), False),
        ((Review("alice", "APPROVED"), Review("bob", "APPROVED")), True),
    ],
)
def test_apply_needs_the_latest_reviews_to_approve(reviews: tuple[Review, ...], allowed: bool) -> None:
    refusal = authorize(APPLY, replace(READY, reviews=reviews), RULES)
    assert (refusal is None) == allowed, refusal


def test_standing_reviews_keep_each_reviewers_latest_decision() -> None:
    reviews = [
        Review("bob", "APPROVED", at(1)),
        Review("dave", "CHANGES_REQUESTED", at(2)),
        Review("Bob", "COMMENTED", at(3)),
        Review("dave", "APPROVED", at(4)),
        Review("erin", "COMMENTED", at(5)),
    ]
    assert standing_reviews(reviews) == {"bob": reviews[0], "dave": reviews[3]}


def test_the_commenter_may_be_the_approver() -> None:
    assert authorize(APPLY, replace(READY, commenter="bob"), RULES) is None


def test_the_author_may_apply_once_someone_else_approved() -> None:
    assert authorize(APPLY, replace(READY, commenter="alice"), RULES) is None


def test_no_approval_explains_who_must_approve() -> None:
    assert reasons(APPLY, replace(READY, reviews=())) == (
        "the pull request needs an approving review from someone other than the author `alice`",
    )


def test_self_approval_is_named_as_not_counting() -> None:
    got = reasons(APPLY, replace(READY, reviews=(Review("alice", "APPROVED"),)))
    assert got == (
        "the pull request needs an approving review from someone other than the author `alice`;"
        " the author's own approval does not count",
    )


def test_changes_requested_names_the_reviewers() -> None:
    reviews = (
        Review("bob", "APPROVED", at(1)),
        Review("dave", "CHANGES_REQUESTED", at(2)),
        Review("erin", "CHANGES_REQUESTED", at(3)),
    )
    assert reasons(APPLY, replace(READY, reviews=reviews)) == (
        "changes were requested by `dave`, `erin`: they need to approve, or have their review dismissed",
    )


def test_an_approval_of_an_earlier_commit_does_not_count() -> None:
    facts = replace(READY, head_sha="c2", reviews=(Review("bob", "APPROVED", at(1), commit_id="c1"),))
    assert reasons(APPLY, facts) == (
        "the pull request needs an approving review from someone other than the author `alice`;"
        " the approval of `bob` is for an earlier commit",
    )
    fresh = replace(facts, reviews=(*facts.reviews, Review("dave", "APPROVED", at(2), commit_id="c2")))
    assert authorize(APPLY, fresh, RULES) is None
    # When either side is unknown, the approval stands.
    assert authorize(APPLY, replace(facts, head_sha=None), RULES) is None


def test_approval_can_be_turned_off() -> None:
    facts = replace(READY, reviews=(Review("dave", "CHANGES_REQUESTED"),))
    assert authorize(APPLY, facts, replace(RULES, require_approval=False)) is None


# -- approvers and approver teams

DBA = replace(RULES, approver_teams=("dba",))


@pytest.mark.parametrize(
    ("rules", "approver", "teams", "allowed"),
    [
        (replace(RULES, approvers=("bob",)), "bob", {}, True),
        (replace(RULES, approvers=("Bob",)), "bob", {}, True),
        (replace(RULES, approvers=("dave",)), "bob", {}, False),
        (DBA, "bob", {"bob": {"dba"}}, True),
        (DBA, "bob", {"Bob": {"DBA", "web"}}, True),
        (DBA, "bob", {"bob": {"web"}}, False),
        (DBA, "bob", {"bob": set()}, False),
        (DBA, "bob", {}, False),  # membership unknown: not trusted
        (DBA, "bob", {"dave": {"dba"}}, False),  # dave is in the team but did not approve
        # Either list qualifies.
        (replace(DBA, approvers=("bob",)), "bob", {}, True),
        (replace(DBA, approvers=("dave",)), "bob", {"bob": {"dba"}}, True),
        (replace(DBA, approvers=("dave",)), "bob", {"bob": {"web"}}, False),
        # Naming approvers requires an approval even when require_approval is off.
        (replace(DBA, require_approval=False), "bob", {"bob": {"web"}}, False),
    ],
)
def test_approver_lists_narrow_who_may_approve(
    rules: ApplyRules, approver: str, teams: dict[str, set[str]], allowed: bool
) -> None:
    facts = replace(READY, reviews=(Review(approver, "APPROVED"),), approver_teams=teams)
    refusal = authorize(APPLY, facts, rules)
    assert (refusal is None) == allowed, refusal


def test_the_author_cannot_approve_even_when_listed() -> None:
    facts = replace(READY, reviews=(Review("alice", "APPROVED"),), approver_teams={"alice": {"dba"}})
    assert authorize(APPLY, facts, replace(DBA, approvers=("alice",))) is not None


def test_an_approval_from_outside_the_teams_is_explained() -> None:
    facts = replace(READY, reviews=(Review("bob", "APPROVED"), Review("erin", "APPROVED")))
    facts = replace(facts, approver_teams={"bob": {"web"}})
    rules = replace(DBA, approvers=("dave", "frank"))
    assert reasons(APPLY, facts, rules) == (
        "the pull request needs an approving review from one of `dave`, `frank` or a member of team `dba`"
        " other than the author `alice`; `bob`, `erin` approved but are not among the approvers;"
        " the team membership of `erin` is not known",
    )


# -- checks


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ((), ()),
        (GREEN, ()),
        (
            (*GREEN, CheckResult("tests", "completed", "failure")),
            ("checks did not pass: `tests` (failure)",),
        ),
        (
            (
                CheckResult("tests", "completed", "timed_out"),
                CheckResult("lint", "completed", "cancelled"),
                CheckResult("sec", "completed", "action_required"),
                CheckResult("odd", "completed", None),
            ),
            (
                "checks did not pass: `tests` (timed_out), `lint` (cancelled), `sec` (action_required),"
                " `odd` (no conclusion)",
            ),
        ),
        (
            (*GREEN, CheckResult("tests", "in_progress"), CheckResult("build", "queued")),
            ("checks are still running: `tests`, `build`",),
        ),
        # A commit status mapped in: pending.
        ((CheckResult("ci/jenkins", "pending"),), ("checks are still running: `ci/jenkins`",)),
        # Every run of one name must pass: a success does not hide a failure.
        (
            (CheckResult("tests", "completed", "success"), CheckResult("tests", "completed", "failure")),
            ("checks did not pass: `tests` (failure)",),
        ),
        # Check names from GitHub cannot break out of inline code.
        ((CheckResult("a`b\nc", "queued"),), ("checks are still running: `a'b c`",)),
    ],
)
def test_every_present_check_must_pass_by_default(
    checks: tuple[CheckResult, ...], expected: tuple[str, ...]
) -> None:
    assert authorize(APPLY, replace(READY, checks=checks), RULES) == (
        Refusal("apply", expected) if expected else None
    )


@pytest.mark.parametrize(
    "own",
    [
        CheckResult("dbvend/apply", "queued"),
        CheckResult("dbvend/apply", "in_progress"),
        CheckResult("dbvend/apply", "completed", "failure"),  # a retry after a failed apply
        CheckResult("dbvend/apply", "completed", "cancelled"),
    ],
)
def test_dbvends_own_apply_check_never_counts_against_itself(own: CheckResult) -> None:
    facts = replace(READY, checks=(*GREEN, own))
    assert authorize(APPLY, facts, RULES) is None
    required = replace(RULES, required_checks=("dbvend/plan", "dbvend/apply"))
    assert authorize(APPLY, facts, required) is None
    assert authorize(APPLY, replace(READY, checks=GREEN), required) is None


def test_the_own_check_name_is_configurable() -> None:
    facts = replace(READY, checks=(*GREEN, CheckResult("dbvend/apply", "in_progress")))
    renamed = replace(RULES, own_check_name="dbvend-prod/apply")
    assert reasons(APPLY, facts, renamed) == ("checks are still running: `dbvend/apply`",)
    own = replace(facts, checks=(*GREEN, CheckResult("dbvend-prod/apply", "in_progress")))
    assert authorize(APPLY, own, renamed) is None


REQUIRED = replace(RULES, required_checks=("dbvend/plan", "tests"))


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        (
            (
                CheckResult("dbvend/plan", "completed", "success"),
                CheckResult("tests", "completed", "success"),
            ),
            (),
        ),
        # Only the named checks matter.
        (
            (
                CheckResult("dbvend/plan", "completed", "success"),
                CheckResult("tests", "completed", "success"),
                CheckResult("lint", "completed", "failure"),
                CheckResult("slow", "in_progress"),
            ),
            (),
        ),
        (
            (CheckResult("dbvend/plan", "completed", "success"),),
            ("required checks have not reported: `tests`",),
        ),
        ((), ("required checks have not reported: `dbvend/plan`, `tests`",)),
        # A named check must have concluded success.
        (
            (
                CheckResult("dbvend/plan", "completed", "success"),
                CheckResult("tests", "completed", "skipped"),
            ),
            ("checks did not pass: `tests` (skipped)",),
        ),
        (
            (
                CheckResult("dbvend/plan", "completed", "success"),
                CheckResult("tests", "completed", "neutral"),
            ),
            ("checks did not pass: `tests` (neutral)",),
        ),
        (
            (CheckResult("dbvend/plan", "completed", "failure"), CheckResult("tests", "in_progress")),
            ("checks did not pass: `dbvend/plan` (failure)", "checks are still running: `tests`"),
        ),
    ],
)
def test_named_required_checks_must_have_succeeded(
    checks: tuple[CheckResult, ...], expected: tuple[str, ...]
) -> None:
    assert authorize(APPLY, replace(READY, checks=checks), REQUIRED) == (
        Refusal("apply", expected) if expected else None
    )


# -- mergeability


@pytest.mark.parametrize(
    ("mergeable", "state", "expected"),
    [
        (True, "clean", None),
        (True, None, None),
        # dbvend's own pending check makes GitHub say blocked or unstable: not a refusal.
        (True, "blocked", None),
        (True, "unstable", None),
        (True, "behind", None),
        (True, "has_hooks", None),
        (False, "dirty", "the pull request has merge conflicts with its base branch: resolve them first"),
        (False, None, "the pull request has merge conflicts with its base branch: resolve them first"),
        (True, "dirty", "the pull request has merge conflicts with its base branch: resolve them first"),
        (None, "unknown", "GitHub is still computing mergeability, try again in a minute"),
        (None, None, "GitHub is still computing mergeability, try again in a minute"),
    ],
)
def test_apply_needs_a_mergeable_pull_request(
    mergeable: bool | None, state: str | None, expected: str | None
) -> None:
    facts = replace(READY, mergeable=mergeable, mergeable_state=state)
    assert authorize(APPLY, facts, RULES) == (Refusal("apply", (expected,)) if expected else None)
    assert authorize(APPLY, facts, replace(RULES, require_mergeable=False)) is None


# -- every reason at once


def test_a_refusal_lists_every_unmet_requirement() -> None:
    facts = PullRequestFacts(
        commenter="mallory",
        permission="read",
        author="alice",
        reviews=(Review("alice", "APPROVED", at(1)), Review("dave", "CHANGES_REQUESTED", at(2))),
        checks=(
            CheckResult("dbvend/apply", "in_progress"),
            CheckResult("tests", "completed", "failure"),
            CheckResult("lint", "queued"),
        ),
        mergeable=False,
        mergeable_state="dirty",
        draft=True,
        state="closed",
    )
    refusal = authorize(DESTROY, facts, RULES)
    assert refusal is not None
    assert refusal.reasons == (
        "`mallory` needs write permission on this repository (has read permission)",
        "the pull request is closed: commands run on open pull requests only",
        "the pull request is a draft: mark it ready for review first",
        "changes were requested by `dave`: they need to approve, or have their review dismissed",
        "the pull request needs an approving review from someone other than the author `alice`;"
        " the author's own approval does not count",
        "checks did not pass: `tests` (failure)",
        "checks are still running: `lint`",
        "the pull request has merge conflicts with its base branch: resolve them first",
    )
    assert refusal.reason == "\n".join(f"- {r}" for r in refusal.reasons)


def test_parsed_commands_go_straight_into_authorize() -> None:
    command = parse_comment("/apply\r\n")
    assert isinstance(command, Command)
    assert authorize(command, READY, RULES) is None
    assert authorize(command, replace(READY, mergeable=None), RULES) is not None


# -- /modify ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "changes"),
    [
        ("/modify size=medium", (("size", "medium"),)),
        ("/modify size=medium storage_gb=100", (("size", "medium"), ("storage_gb", 100))),
        ("/modify min_acu=0.5 max_acu=4 readers=2", (("min_acu", 0.5), ("max_acu", 4.0), ("readers", 2))),
        ("/modify proxy=true", (("proxy", True),)),
        ("/modify proxy=false owner=bob team=data", (("proxy", False), ("owner", "bob"), ("team", "data"))),
        ("/modify engine_version=17\nto get the new planner", (("engine_version", "17"),)),
    ],
)
def test_modify_carries_its_typed_fields(body: str, changes: tuple[tuple[str, object], ...]) -> None:
    parsed = parse_comment(body)
    assert isinstance(parsed, Command) and parsed.name == "modify" and parsed.changes == changes


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/modify", "needs at least one `field=value`"),
        ("/modify size", "`size` is not `field=value`"),
        ("/modify size=", "`size=` is not `field=value`"),
        ("/modify colour=red", "`colour` is not a field `/modify` changes"),
        ("/modify ttl=3d", "`ttl` is not a field `/modify` changes"),
        ("/modify database_engine=mysql", "`database_engine` is not a field `/modify` changes"),
        ("/modify size=medium size=large", "`size` is given twice"),
        ("/modify storage_gb=lots", "`storage_gb=lots` is not a value `storage_gb` takes"),
        ("/modify readers=1.5", "`readers=1.5` is not a value `readers` takes"),
        ("/modify proxy=yes", "`proxy=yes` is not a value `proxy` takes"),
    ],
)
def test_modify_answers_bad_input_with_its_usage(body: str, expected: str) -> None:
    text = reply_text(body)
    assert expected in text and "Usage: `/modify <field>=<value> ...`" in text


@pytest.mark.parametrize("argument", ["@everyone=1", "<img/src=x>", "[x](http://evil)=1", "a`b", "readers=@"])
def test_modify_does_not_echo_markup(argument: str) -> None:
    """(A value of a text field is no reply here: its rules, and their answer, are the modification's.)"""
    text = reply_text(f"/modify {argument}")
    assert argument not in text


def test_modify_is_authorized_as_extend_is() -> None:
    modify = Command("modify", "size=medium", changes=(("size", "medium"),))
    for permission in ("read", "none"):
        assert authorize(modify, replace(READY, permission=permission), RULES) is None
    assert authorize(modify, replace(READY, state="merged"), RULES) is None
    assert "`/modify <field>=<value> ...`" in HELP_TEXT
