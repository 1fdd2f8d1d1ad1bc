"""Drift: which databases a plan would change, and what to do with each one's drift issue (no I/O)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from engine.comment_parts import GITHUB_COMMENT_LIMIT
from engine.description import md_escape
from engine.plan_report import RootReport, change_line, count_line, render_report
from engine.summary import PlanSummary, ResourceChange

DRIFT_LABEL: Final = "dbvend-drift"
# GitHub refuses an issue body above 65,536 characters, as it does a comment (code points, as len()).
ISSUE_BODY_LIMIT: Final = GITHUB_COMMENT_LIMIT
_MARKER: Final = "<!-- dbvend:drift:{} -->"
_MARKER_RE: Final = re.compile(r"<!-- dbvend:drift:(terraform/[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*) -->")
# When the drift was first seen: kept from the open issue, so the same drift gives the same body.
_SINCE: Final = "<!-- dbvend:drift-since:{} -->"
_SINCE_RE: Final = re.compile(r"<!-- dbvend:drift-since:([0-9TZ:-]{20}) -->")
_NOTE_ROOM: Final = 200  # characters kept free for each list's "and N more" line
GONE: Final = "no longer in the repository"  # the detail of a close that is not a root's own
DUPLICATE: Final = "a duplicate"

ActionKind = Literal["open", "update", "leave", "close", "error", "clean", "skipped"]


@dataclass(frozen=True)
class DriftIssue:
    """An open issue as the tracker lists it; a drift issue when its body carries the marker."""

    number: int
    body: str

    @property
    def directory(self) -> str | None:
        found = _MARKER_RE.search(self.body)
        return found.group(1) if found else None


@dataclass(frozen=True)
class DriftAction:
    """What to do for one database root: its issue's number, and the title, body or comment to write."""

    directory: str
    kind: ActionKind
    issue: int | None = None
    title: str = ""
    body: str = ""
    comment: str = ""
    detail: str = ""  # the plan's counts, the error, or why the root was skipped or the issue closed

    @property
    def drifted(self) -> bool:
        return self.kind in ("open", "update", "leave")


def marker(directory: str) -> str:
    return _MARKER.format(directory)


def issue_title(directory: str) -> str:
    return f"Drift: {directory}"


def drift_roots(claims: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(roots to plan, roots skipped because their destroy is requested), each sorted. A claim that
    cannot be read is planned: whether it is being destroyed is unknown, its drift is not."""
    planned: list[str] = []
    skipped: list[str] = []
    for directory, text in sorted(claims.items()):
        try:
            claim = json.loads(text)
        except ValueError:
            claim = None
        destroying = isinstance(claim, dict) and claim.get("destroy_requested_at") is not None
        (skipped if destroying else planned).append(directory)
    return planned, skipped


def decide(
    reports: Sequence[RootReport],
    open_issues: Iterable[DriftIssue],
    now: datetime,
    skipped: Iterable[str] = (),
) -> list[DriftAction]:
    """One action per planned or skipped root, in the reports' order, then the closing of issues
    whose root is gone and of duplicates (the oldest issue of a root is the one kept).

    A root whose plan failed or met a held state lock neither opens nor closes anything: an error.
    """
    issues: dict[str, DriftIssue] = {}
    duplicates: list[DriftAction] = []
    for issue in sorted(open_issues, key=lambda found: found.number):
        directory = issue.directory
        if directory is None:
            continue
        kept = issues.setdefault(directory, issue)
        if kept is not issue:
            comment = f"Duplicate of #{kept.number}: dbvend keeps one drift issue per database."
            duplicates.append(
                DriftAction(directory, "close", issue.number, comment=comment, detail=DUPLICATE)
            )
    actions = [_decide_root(report, issues.get(report.directory), now) for report in reports]
    skipped = sorted(skipped)
    for directory in skipped:
        found = issues.get(directory)
        actions.append(
            DriftAction(
                directory, "skipped", found.number if found else None, detail="its destroy is requested"
            )
        )
    known = {report.directory for report in reports} | set(skipped)
    for directory, issue in sorted(issues.items()):
        if directory not in known:
            comment = f"`{directory}` is no longer in the repository: no drift to watch. Closing."
            actions.append(DriftAction(directory, "close", issue.number, comment=comment, detail=GONE))
    return actions + duplicates


def _decide_root(report: RootReport, issue: DriftIssue | None, now: datetime) -> DriftAction:
    directory, number = report.directory, issue.number if issue else None
    if report.locked_by is not None:
        return DriftAction(directory, "error", number, detail=f"state locked: {report.locked_by}")
    if report.error is not None or report.summary is None:
        return DriftAction(directory, "error", number, detail=report.error or "no plan")
    summary = report.summary
    if summary.is_empty:
        if issue is None:
            return DriftAction(directory, "clean", detail="no drift")
        comment = (
            f"No drift any more: the plan of `{directory}` at {_shown_time(now)} changes nothing."
            " Closing; a new issue opens if it drifts again."
        )
        return DriftAction(directory, "close", number, comment=comment, detail="no drift")
    since = _since(issue.body) if issue is not None else None
    body = issue_body(directory, summary, since or now)
    detail = counts(summary)
    if issue is None:
        return DriftAction(directory, "open", title=issue_title(directory), body=body, detail=detail)
    kind: ActionKind = "leave" if issue.body == body else "update"
    return DriftAction(directory, kind, number, title=issue_title(directory), body=body, detail=detail)


def occurrence(action: DriftAction, tracked: bool) -> str:
    """The key of one drift of a database, told once (Ledger.first_time): with drift issues
    (`tracked`), the drift since its issue's first detection; without, what the plan would change
    (the body less its times), so the same drift seen by the next run is not news."""
    if tracked:
        found = _SINCE_RE.search(action.body)
        return f"drift:{action.directory}:{found.group(1) if found else action.issue}"
    kept = [
        line
        for line in action.body.splitlines()
        if not _SINCE_RE.search(line) and not line.startswith("- **First detected**")
    ]
    return f"drift:{action.directory}:" + hashlib.sha256("\n".join(kept).encode()).hexdigest()[:32]


def counts(summary: PlanSummary) -> str:
    return count_line(summary.create, summary.update, summary.delete, summary.replace, summary.forget)


def _since(body: str) -> datetime | None:
    found = _SINCE_RE.search(body)
    if found is None:
        return None
    try:
        return datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _shown_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- the issue's body ------------------------------------------------------------------------------


def issue_body(directory: str, summary: PlanSummary, since: datetime, limit: int = ISSUE_BODY_LIMIT) -> str:
    """The drift issue: what a plan of the root would change and what changed outside Terraform
    (lists cut with a note to stay under `limit`), since when, and how to fix it."""
    head = [
        marker(directory),
        _SINCE.format(since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        f"## Drift: {md_escape(directory)}",
        "",
        f"A plan of `{directory}` would change the database's infrastructure: it no longer matches"
        " its Terraform.",
        "",
        f"- **Plan**: {counts(summary)}",
        f"- **First detected**: {_shown_time(since)}, by the scheduled `dbvend drift`",
        "",
    ]
    tail = [
        "### How to fix it",
        "",
        "- **The change was not wanted**: apply the root again; the database is put back as its claim"
        f" says. From a checkout of the default branch, with the infrastructure's AWS credentials:"
        f" `dbvend ci apply --base HEAD --directory {directory}`.",
        "- **The change should stay**: change the claim instead: a pull request that updates"
        f" `{directory}/request.json` and the `main.tf` dbvend renders from it (`dbvend render`; CI refuses"
        " any other `main.tf`), planned and applied like any other change.",
        "",
        "dbvend updates this issue on every scheduled drift run and closes it when a plan finds no drift.",
    ]
    planned = [change_line(change) for change in _ordered(summary.changes) if change.kind != "read"]
    outside = [change_line(change) for change in summary.drift]
    sections = [
        (title, items)
        for title, items in (
            ("What applying the root would change", planned),
            ("Changed outside Terraform since the last apply", outside),
        )
        if items
    ]
    room = limit - _length(head) - _length(tail)
    room -= sum(_length([f"### {title}", "", ""]) + _NOTE_ROOM for title, _ in sections)
    kept: dict[str, list[str]] = {}
    # The shorter list first, each taking at most an even share of what is left: both get a say.
    for index, (title, items) in enumerate(sorted(sections, key=lambda section: _length(section[1]))):
        kept[title] = _fitting(items, room // (len(sections) - index))
        room -= _length(kept[title])
    lines = list(head)
    for title, items in sections:
        lines += [f"### {title}", "", *kept[title]]
        if len(kept[title]) < len(items):
            lines.append(
                f"- _… and {len(items) - len(kept[title])} more, not listed: the issue would pass GitHub's"
                f" {ISSUE_BODY_LIMIT:,} characters. The `dbvend drift` run's output lists them all._"
            )
        lines.append("")
    return "\n".join(lines + tail) + "\n"


def _length(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fitting(items: Sequence[str], room: int) -> list[str]:
    kept: list[str] = []
    for item in items:
        room -= len(item) + 1
        if room < 0:
            break
        kept.append(item)
    return kept


def _ordered(changes: Sequence[ResourceChange]) -> list[ResourceChange]:
    return sorted(changes, key=lambda change: not change.important)


# -- the run's report ------------------------------------------------------------------------------


def describe(action: DriftAction, written: bool, opened: int | None = None) -> str:
    """What became of the action's issue: done when `written`, else what would be done."""
    number = f"#{opened or action.issue}"
    if action.kind == "open":
        return f"issue {number} opened" if written and opened else "an issue would be opened"
    if action.kind == "update":
        return f"issue {number} updated" if written else f"issue {number} would be updated"
    if action.kind == "leave":
        return f"issue {number} unchanged"
    if action.kind == "close":
        return f"issue {number} closed" if written else f"issue {number} would be closed"
    if action.issue is not None:
        return f"issue {number} left as it is"
    return ""


_ICONS: Final = {"error": "❌", "clean": "✅", "skipped": "⏭️", "close": "✅"}


def render_run(
    now: datetime,
    actions: Sequence[DriftAction],
    notes: Sequence[str],
    reports: Sequence[RootReport],
    remark: str = "",
) -> str:
    """The run's report (stdout and the job summary): one line per root, then the plans of the
    roots that drifted or failed, in full."""
    roots = [a for a in actions if a.detail not in (GONE, DUPLICATE)]
    drifted = sum(1 for a in roots if a.drifted)
    failed = sum(1 for a in roots if a.kind == "error")
    clean = sum(1 for a in roots if a.kind in ("clean", "close"))
    skipped = sum(1 for a in roots if a.kind == "skipped")
    planned = len(roots) - skipped
    totals = f"**{planned} {'database' if planned == 1 else 'databases'} planned**: {drifted} drifted"
    totals += f", {clean} without drift" + (f", ❌ {failed} failed" if failed else "")
    totals += f" · {skipped} skipped (being destroyed)" if skipped else ""
    lines = [f"## dbvend drift at {_shown_time(now)}", "", totals, ""]
    lines += [remark, ""] if remark else []
    for action, note in zip(actions, notes, strict=True):
        icon = "🟠" if action.drifted else _ICONS.get(action.kind, "")
        what = f"drift: {action.detail}" if action.drifted else action.detail.splitlines()[0][:300]
        if action.kind == "error":
            what = "could not be planned: " + what
        line = f"- {icon} `{action.directory}`: {md_escape(what)}"
        lines.append(line + (f" — {note}" if note else ""))
    shown = {a.directory for a in actions if a.drifted or a.kind == "error"}
    details = [report for report in reports if report.directory in shown]
    if details:
        lines += ["", render_report(details, title="Plans of the drifted and failed databases")]
    return "\n".join(lines) + "\n"


def exit_code(actions: Sequence[DriftAction]) -> int:
    """1 when a root could not be planned, 2 when one drifted, else 0."""
    if any(action.kind == "error" for action in actions):
        return 1
    return 2 if any(action.drifted for action in actions) else 0
