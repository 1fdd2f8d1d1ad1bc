"""Pull-request comment commands (/plan, /apply, /destroy, /extend, /modify, /help): parse, authorize."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from engine.catalog import ApplyRules
from engine.modify import MODIFIABLE, value_from_text
from engine.spec import parse_ttl

COMMANDS: Final = ("plan", "apply", "destroy", "extend", "modify", "help")
# Commands that only need write permission on an open pull request; every other command
# (apply, destroy and anything added later) also needs approval, green checks and no conflicts.
WRITE_ONLY_COMMANDS: Final = frozenset({"plan", "extend", "modify"})
# Commands for the database's people rather than its review: write permission, or the one who asked.
DATABASE_COMMANDS: Final = frozenset({"extend", "modify"})
WRITE_PERMISSIONS: Final = frozenset({"admin", "maintain", "write"})
PERMISSIONS: Final = ("admin", "maintain", "write", "triage", "read", "none")
# "/atlantis apply" and friends are meant for another bot on the same repository: stay quiet.
OTHER_BOTS: Final = frozenset({"atlantis", "digger", "terrateam", "spacelift", "env0", "tfc", "terraform"})

HELP_TEXT: Final = """\
**dbvend commands** — write one as the first line of a comment, on its own:

| Command | What it does |
| --- | --- |
| `/plan` | plan this pull request's Terraform again |
| `/apply` | apply the plan; needs an approval from someone other than the author, \
passing checks and no merge conflicts |
| `/destroy` | destroy the databases this pull request manages; needs the same as `/apply` |
| `/extend <duration>` | set the database's expiry to now + `<duration>`, in hours or days: `/extend 12h`, \
`/extend 7d` |
| `/modify <field>=<value> ...` | change the database: `/modify size=medium storage_gb=100`; fields: \
`size`, `storage_gb`, `engine_version`, `readers`, `proxy`, `min_acu`, `max_acu`, `owner`, `team` |
| `/help` | show this message |

Commands are lower case and take no Terraform flags: dbvend always plans and applies \
the whole pull request. `/plan`, `/apply` and `/destroy` need write permission on the \
repository; who may `/extend` and `/modify` a database is dbvend.yaml's `access:` (by default \
its owner, its team and admins)."""

EXTEND_USAGE: Final = (
    "Usage: `/extend <duration>` in hours or days, such as `/extend 12h` or `/extend 7d`: it sets the"
    " database's expiry to now + the duration."
)

MODIFY_USAGE: Final = (
    "Usage: `/modify <field>=<value> ...`, such as `/modify size=medium storage_gb=100`, each field once,"
    f" among {', '.join(MODIFIABLE)}: it opens a change that modifies the database."
)
# The first word of a command-shaped line: "/apply", "/Apply", "/aply!". Paths such as
# "/etc/hosts" and prose such as "/ not a command" are not command-shaped and are ignored.
_COMMAND_WORD = re.compile(r"/([A-Za-z][A-Za-z0-9_.!?-]{0,39})")
_ECHOABLE = re.compile(r"[A-Za-z0-9_.+-]{1,20}")

# GitHub review states that change where a reviewer stands. A later COMMENTED review leaves an
# approval (or a request for changes) standing, as GitHub's own review decision does; PENDING
# reviews are unsubmitted drafts.
_STANDING_STATES: Final = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})
_PASSING: Final = frozenset({"success", "neutral", "skipped"})


# -- Parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A command to run: `name` is one of COMMANDS; `/extend` carries its duration, `/modify` its
    fields (name, typed value), in the order given."""

    name: str
    argument: str | None = None
    extension: timedelta | None = None
    changes: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Reply:
    """Not a command to run, but something to tell the commenter (help, usage, refusal to parse)."""

    text: str


@dataclass(frozen=True)
class Ignore:
    """The comment is not for dbvend: say nothing."""


def parse_comment(body: str) -> Command | Reply | Ignore:
    """A pull-request comment -> the command on its first line, a reply, or Ignore.

    Only the first line counts. Commands are lower case: `/Apply` gets a "did you mean"
    reply rather than running, so a capitalised word never applies anything by surprise.
    """
    lines = body.strip().splitlines()
    words = lines[0].split() if lines else []
    match = _COMMAND_WORD.fullmatch(words[0]) if words else None
    if match is None:
        return Ignore()  # prose, quotes ("> /apply"), code ("`/apply`", "```"), paths
    name, arguments = match[1], words[1:]
    if name.lower() in OTHER_BOTS:
        return Ignore()
    if name == "help":
        return Reply(HELP_TEXT)
    if name not in COMMANDS:
        return Reply(_unknown_command_text(name))
    if name == "extend":
        return _parse_extend(arguments)
    if name == "modify":
        return _parse_modify(arguments)
    if arguments:
        return Reply(_no_arguments_text(name))
    return Command(name)


def _unknown_command_text(name: str) -> str:
    # 0.7 rather than difflib's 0.6, so "/deploy" is not answered with "did you mean /destroy?".
    close = difflib.get_close_matches(name.lower(), COMMANDS, n=1, cutoff=0.7)
    text = f"`/{name}` is not a dbvend command."
    if close:
        case = " Commands are lower case." if close[0] == name.lower() else ""
        text += f" Did you mean `/{close[0]}`?{case}"
    return f"{text}\n\n{HELP_TEXT}"


def _no_arguments_text(name: str) -> str:
    return (
        f"`/{name}` takes no arguments, so dbvend did nothing. Terraform flags such as `-target` or"
        f" `-var` are never passed through: dbvend always works on the whole pull request, as reviewed."
        f" Comment `/{name}` on its own."
    )


def _parse_extend(arguments: Sequence[str]) -> Command | Reply:
    if len(arguments) != 1:
        return Reply(f"`/extend` takes exactly one duration. {EXTEND_USAGE}")
    text = arguments[0]
    try:
        extension = parse_ttl(text)
    except ValueError:
        # Echo only what cannot be markdown, a mention or a link.
        shown = f"`{text}`" if _ECHOABLE.fullmatch(text) else "That"
        return Reply(f"{shown} is not a duration. {EXTEND_USAGE}")
    if extension is None:
        return Reply(
            f"`none` is not an extension: say how long to keep the database from now. {EXTEND_USAGE}"
        )
    return Command("extend", text, extension)


def _parse_modify(arguments: Sequence[str]) -> Command | Reply:
    """`field=value` pairs, each a field of a modification given once, its value typed (the rules on
    the values are the modification's own, engine.modify)."""
    if not arguments:
        return Reply(f"`/modify` needs at least one `field=value`. {MODIFY_USAGE}")
    changes: dict[str, object] = {}
    for pair in arguments:
        field, equals, text = pair.partition("=")
        shown = f"`{pair}`" if _ECHOABLE.fullmatch(pair.replace("=", "")) else "That"
        if not equals or not text:
            return Reply(f"{shown} is not `field=value`. {MODIFY_USAGE}")
        if field not in MODIFIABLE:
            named = f"`{field}`" if _ECHOABLE.fullmatch(field) else "That field"
            return Reply(f"{named} is not a field `/modify` changes. {MODIFY_USAGE}")
        if field in changes:
            return Reply(f"`{field}` is given twice. {MODIFY_USAGE}")
        try:
            changes[field] = value_from_text(field, text)
        except ValueError:
            return Reply(f"{shown} is not a value `{field}` takes. {MODIFY_USAGE}")
    return Command("modify", " ".join(arguments), changes=tuple(changes.items()))


# -- Authorization ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """One submitted pull-request review, as GitHub lists them (oldest first).

    `commit_id` is the commit reviewed; with PullRequestFacts.head_sha it tells a stale approval.
    """

    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED (PENDING is ignored)
    submitted_at: datetime | None = None
    commit_id: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """One check run on the head commit (pass the latest run per name, as GitHub's filter=latest does).

    Commit statuses fit too: status "completed" with conclusion success/failure/error, or "pending".
    """

    name: str
    status: str  # queued, in_progress, completed, ...
    conclusion: str | None = None  # success, failure, neutral, skipped, cancelled, timed_out, ...


@dataclass(frozen=True)
class PullRequestFacts:
    """What GitHub says about the pull request and the commenter, gathered at the edge."""

    commenter: str
    permission: str  # the commenter's: admin, maintain, write, triage, read, none
    author: str
    reviews: Sequence[Review] = ()
    checks: Sequence[CheckResult] = ()
    mergeable: bool | None = None  # None: GitHub is still computing it
    mergeable_state: str | None = None  # clean, dirty, blocked, behind, unstable, unknown, ...
    approver_teams: Mapping[str, Collection[str]] = field(default_factory=dict)  # login -> team slugs
    draft: bool = False
    state: str = "open"  # open or closed
    head_sha: str | None = None


@dataclass(frozen=True)
class Refusal:
    """The command will not run; `reasons` lists every requirement not met."""

    command: str
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The reasons as a markdown list, for the comment that says the command was not run."""
        return "\n".join(f"- {reason}" for reason in self.reasons)


def authorize(
    command: Command, facts: PullRequestFacts, rules: ApplyRules, destroys_production: bool = False
) -> Refusal | None:
    """None when the commenter may run the command on this pull request, else every reason not.

    `/extend` and `/modify` are not decided here: they change a database, not this pull request, and
    dbvend.yaml's access rules decide who may, as for every other door (engine.access, applied by
    engine.lifecycle). A command that `destroys_production` (a database) needs an approval even
    where the rules need none.
    """
    if command.name in DATABASE_COMMANDS:
        return None
    if destroys_production and not rules.require_approval:
        rules = replace(rules, require_approval=True)
    reasons = _permission_reasons(facts)
    if command.name not in WRITE_ONLY_COMMANDS:
        if facts.draft and not rules.allow_draft:
            reasons.append("the pull request is a draft: mark it ready for review first")
        reasons += _review_reasons(facts, rules)
        reasons += _check_reasons(facts, rules)
        reasons += _mergeable_reasons(facts, rules)
    return Refusal(command.name, tuple(reasons)) if reasons else None


def _permission_reasons(facts: PullRequestFacts) -> list[str]:
    reasons = []
    permission = facts.permission.lower()
    if permission not in WRITE_PERMISSIONS:
        has = permission if permission in PERMISSIONS else "none"
        reasons.append(
            f"{_code(facts.commenter)} needs write permission on this repository (has {has} permission)"
        )
    if facts.state.lower() != "open":
        reasons.append("the pull request is closed: commands run on open pull requests only")
    return reasons


def standing_reviews(reviews: Sequence[Review]) -> dict[str, Review]:
    """Each reviewer's latest review that approved, requested changes or was dismissed.

    Keyed by lower-cased login (GitHub logins ignore case). Reviews are ordered by submitted_at
    when all have one, else taken in the order given.
    """
    ordered = list(reviews)
    stamps = [review.submitted_at for review in ordered]
    if all(stamp is not None for stamp in stamps):
        ordered = [review for _, review in sorted(enumerate(ordered), key=lambda pair: _stamp(pair[1]))]
    standing: dict[str, Review] = {}
    for review in ordered:
        if review.state.upper() in _STANDING_STATES:
            standing[review.login.casefold()] = review
    return standing


def _stamp(review: Review) -> datetime:
    assert review.submitted_at is not None
    return review.submitted_at


def _review_reasons(facts: PullRequestFacts, rules: ApplyRules) -> list[str]:
    if not (rules.require_approval or rules.approvers or rules.approver_teams):
        return []
    standing = standing_reviews(facts.reviews)
    reasons = []
    blockers = [r.login for r in standing.values() if r.state.upper() == "CHANGES_REQUESTED"]
    if blockers:
        reasons.append(
            f"changes were requested by {_codes(blockers)}: they need to approve,"
            " or have their review dismissed"
        )
    author = facts.author.casefold()
    approvals = [r for login, r in standing.items() if r.state.upper() == "APPROVED" and login != author]
    stale = [r.login for r in approvals if _is_stale(r, facts.head_sha)]
    fresh = [r for r in approvals if not _is_stale(r, facts.head_sha)]
    qualifying = [r for r in fresh if _may_approve(r.login, facts, rules)]
    if qualifying:
        return reasons
    who = _who_may_approve(rules)
    needed = (
        f"the pull request needs an approving review from {who} other than the author {_code(facts.author)}"
    )
    notes = []
    if author in standing and standing[author].state.upper() == "APPROVED":
        notes.append("the author's own approval does not count")
    if stale:
        notes.append(f"the approval of {_codes(stale)} is for an earlier commit")
    others = [r.login for r in fresh]  # approved, but not among the approvers the rules name
    teams = {login.casefold() for login in facts.approver_teams}
    unknown = [login for login in others if rules.approver_teams and login.casefold() not in teams]
    if others:
        notes.append(f"{_codes(others)} approved but are not among the approvers")
    if unknown:
        notes.append(f"the team membership of {_codes(unknown)} is not known")
    reasons.append(needed + "".join(f"; {note}" for note in notes))
    return reasons


def _is_stale(review: Review, head_sha: str | None) -> bool:
    return head_sha is not None and review.commit_id is not None and review.commit_id != head_sha


def _may_approve(login: str, facts: PullRequestFacts, rules: ApplyRules) -> bool:
    if rules.approvers is None and rules.approver_teams is None:
        return True
    users = {user.casefold() for user in rules.approvers or ()}
    wanted = {team.casefold() for team in rules.approver_teams or ()}
    teams = {
        team.casefold()
        for member, slugs in facts.approver_teams.items()
        if member.casefold() == login.casefold()
        for team in slugs
    }
    return login.casefold() in users or bool(wanted & teams)


def _who_may_approve(rules: ApplyRules) -> str:
    who = []
    if rules.approvers:
        who.append(f"one of {_codes(rules.approvers)}")
    if rules.approver_teams:
        who.append(f"a member of team {_codes(rules.approver_teams)}")
    return " or ".join(who) if who else "someone"


def _check_reasons(facts: PullRequestFacts, rules: ApplyRules) -> list[str]:
    # dbvend's own apply check is pending while /apply runs, and failed after an apply that failed;
    # counting it would deadlock when it is itself a required check (a known trap in Atlantis).
    own = rules.own_check_name
    checks = [check for check in facts.checks if check.name != own]
    if rules.required_checks is None:
        names, passing = list(dict.fromkeys(check.name for check in checks)), _PASSING
    else:
        names, passing = [n for n in dict.fromkeys(rules.required_checks) if n != own], frozenset({"success"})
    missing, running, failed = [], [], []
    for name in names:
        # Every run reported under one name must pass: a failure is never hidden by a success.
        runs = [check for check in checks if check.name == name]
        if not runs:
            missing.append(name)
        elif any(run.status.lower() != "completed" for run in runs):
            running.append(name)
        elif any((run.conclusion or "").lower() not in passing for run in runs):
            conclusions = sorted({(run.conclusion or "no conclusion").lower() for run in runs} - passing)
            failed.append(f"{_code(name)} ({', '.join(conclusions)})")
    reasons = []
    if failed:
        reasons.append(f"checks did not pass: {', '.join(failed)}")
    if running:
        reasons.append(f"checks are still running: {_codes(running)}")
    if missing:
        reasons.append(f"required checks have not reported: {_codes(missing)}")
    return reasons


def _mergeable_reasons(facts: PullRequestFacts, rules: ApplyRules) -> list[str]:
    # Only "dirty" means conflicts. "blocked" and "unstable" are what dbvend's own pending check
    # causes, and "behind" is a branch-protection setting of its own, so none of them refuse here.
    if not rules.require_mergeable:
        return []
    if facts.mergeable is False or (facts.mergeable_state or "").lower() == "dirty":
        return ["the pull request has merge conflicts with its base branch: resolve them first"]
    if facts.mergeable is None:
        return ["GitHub is still computing mergeability, try again in a minute"]
    return []


def _code(text: str) -> str:
    """Text from GitHub (logins, check names) as inline code that cannot break out of it."""
    return "`" + " ".join(text.replace("`", "'").split())[:100] + "`"


def _codes(texts: Collection[str]) -> str:
    return ", ".join(_code(text) for text in texts)
