"""What `dbvend ci` does in an infrastructure repository's CI (the Action, the CircleCI job).

Only the database roots changed between two commits are looked at, so a run's work does not
grow with the number of databases in the repository: one `git diff --name-only` names them, one
`git cat-file --batch` reads what is needed of them at the head commit.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final

from engine.catalog import Catalog
from engine.checkov.gate import PolicyGate, policy_decision
from engine.claim import parse_claim
from engine.connection import Connection, connection_from_outputs, connection_markdown
from engine.cost import estimate_monthly_cost
from engine.description import md_escape
from engine.errors import GitError, InvalidRequest, TerraformError
from engine.plan_report import RootReport, code_block, count_line, counted
from engine.policy import PolicyDecision
from engine.render import render_claim
from engine.roots import Root
from engine.summary import PlanSummary, summarize_plan
from engine.terraform import Terraform

ROOT_OF: Final = re.compile(r"^(terraform/[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*)/[^/]+$")
PUSH_ATTEMPTS: Final = 3  # pushes of one removal: the branch may move between a fetch and a push
IDENTITY: Final = ("-c", "user.name=dbvend", "-c", "user.email=dbvend@localhost")


@dataclass(frozen=True)
class ChangedRoots:
    """Database roots (terraform/<env>/<identifier>) touched between base and head."""

    changed: tuple[str, ...]  # present at head: to plan / apply
    removed: tuple[str, ...]  # gone at head: their destroy went (or goes) through dbvend-destroy


@dataclass(frozen=True)
class Mismatch:
    """A root whose files differ from what dbvend renders from its request.json."""

    directory: str
    reason: str
    diff: str = ""


def git(repo: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    done = run_git(repo, *args, stdin=stdin, env=env)
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def run_git(
    repo: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, check=False, env=env
    )


def roots_in(paths: Iterable[str]) -> list[str]:
    """The database roots the paths lie directly in (files of a root, not deeper), sorted."""
    found = {match.group(1) for path in paths if (match := ROOT_OF.match(path))}
    return sorted(found)


def changed_roots(repo: Path, base: str, head: str) -> ChangedRoots:
    """The roots with a file changed between `base` and `head` (renames count as both sides)."""
    names = git(repo, "diff", "--name-only", "--no-renames", "-z", base, head, "--", "terraform/")
    roots = roots_in(name for name in names.split("\0") if name)
    present = read_files(repo, head, [f"{root}/main.tf" for root in roots])
    changed = tuple(root for root in roots if present.get(f"{root}/main.tf") is not None)
    removed = tuple(root for root in roots if present.get(f"{root}/main.tf") is None)
    return ChangedRoots(changed, removed)


def read_files(repo: Path, ref: str, paths: Sequence[str]) -> dict[str, str | None]:
    """Each path's text at `ref` (None when missing), in one `git cat-file --batch`."""
    found = cat_file_batch(repo, [f"{ref}:{path}" for path in paths])
    return {path: found[f"{ref}:{path}"] for path in paths}


def cat_file_batch(repo: Path, specs: Sequence[str]) -> dict[str, str | None]:
    """Objects by id or `<ref>:<path>` in one `git cat-file --batch`; None for a missing one."""
    if not specs:
        return {}
    done = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input="".join(f"{spec}\n" for spec in specs).encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise GitError(f"git cat-file failed: {done.stderr.decode(errors='replace').strip()}")
    out, position = done.stdout, 0
    found: dict[str, str | None] = {}
    for spec in specs:
        end = out.index(b"\n", position)
        header = out[position:end].decode()
        position = end + 1
        if header.endswith(" missing") or header.endswith(" ambiguous"):
            found[spec] = None
            continue
        size = int(header.rsplit(" ", 1)[1])
        found[spec] = out[position : position + size].decode("utf-8", "replace")
        position += size + 1
    return found


def check_generated(repo: Path, head: str, roots: Sequence[str]) -> list[Mismatch]:
    """Render every root's claim again; a main.tf that differs was edited by hand."""
    wanted = [f"{root}/{name}" for root in roots for name in ("request.json", "main.tf")]
    files = read_files(repo, head, wanted)
    mismatches = []
    for root in roots:
        claim_text, main_tf = files[f"{root}/request.json"], files[f"{root}/main.tf"]
        if claim_text is None:
            mismatches.append(Mismatch(root, "request.json is missing: the root was not made by dbvend"))
            continue
        try:
            rendered = render_claim(parse_claim(claim_text))
        except InvalidRequest as exc:
            mismatches.append(Mismatch(root, f"request.json is not a valid claim: {exc}"))
            continue
        expected = rendered.files["main.tf"]
        if main_tf != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    (main_tf or "").splitlines(keepends=True),
                    f"{root}/main.tf (rendered by dbvend)",
                    f"{root}/main.tf (at {head[:12]})",
                )
            )
            mismatches.append(
                Mismatch(root, "main.tf differs from what dbvend renders from request.json", diff)
            )
    return mismatches


# -- planning ------------------------------------------------------------------------------------


def plan_roots(
    repo: Path,
    roots: Sequence[str],
    terraform: Terraform,
    gate: PolicyGate | None,
    catalog: Catalog,
    parallel: int = 4,
    backend_file: str | None = None,
    today: date | None = None,
) -> list[RootReport]:
    """Plan each root: every `init` first, one at a time (the shared plugin cache is written then),
    then at most `parallel` plans at once. Each root's report carries its plan summary, policy
    result on the plan and cost estimate, or its error, or the lock that stopped it."""
    initialised: list[str] = []
    reports: dict[str, RootReport] = {}
    for root in roots:
        try:
            terraform.init(repo / root, backend_file=backend_file)
            initialised.append(root)
        except TerraformError as exc:
            reports[root] = RootReport(root, None, error=str(exc))
    day = today or datetime.now(UTC).date()
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        planned = pool.map(lambda root: _plan_one(repo, root, terraform, gate, catalog, day), initialised)
        for report in planned:
            reports[report.directory] = report
    return [reports[root] for root in roots]


def _plan_one(
    repo: Path, root: str, terraform: Terraform, gate: PolicyGate | None, catalog: Catalog, today: date
) -> RootReport:
    directory = repo / root
    cost = _monthly_cost(directory)
    try:
        result = terraform.plan(directory, destroy=destroy_requested(repo, root))
        if result.lock is not None:
            return RootReport(root, None, monthly_cost=cost, locked_by=result.lock.detail())
        assert result.plan_file is not None
        plan = terraform.show_json(directory, result.plan_file)
        summary = summarize_plan(plan)
    except (TerraformError, ValueError) as exc:
        return RootReport(root, None, error=str(exc), monthly_cost=cost)
    if gate is None:
        return RootReport(root, summary, monthly_cost=cost)
    plan_json = directory / "dbvend.tfplan.json"
    plan_json.write_text(json.dumps(plan), encoding="utf-8")
    environment = Root.of(root).environment
    decision = policy_decision(gate, plan_json, catalog, environment, today, plan=True)
    return RootReport(
        root, summary, monthly_cost=cost, policy=policy_line(decision), policy_failures=decision.failures
    )


def policy_line(decision: PolicyDecision) -> str:
    if decision.result == "fail":
        return "fail: " + ", ".join(sorted({f.check_id for f in decision.failures}))
    if decision.result == "warn":
        return f"warn: {counted(len(decision.warnings), 'warning')}"
    return "pass"


def _monthly_cost(directory: Path) -> float | None:
    claim_file = directory / "request.json"
    if not claim_file.is_file():
        return None
    try:
        return estimate_monthly_cost(parse_claim(claim_file.read_text(encoding="utf-8"))).monthly_usd
    except InvalidRequest:
        return None


# -- applying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyReport:
    """What became of one root's apply or destroy."""

    directory: str
    ok: bool
    detail: str
    changes: PlanSummary | None = None
    destroyed: bool = False  # a destroy ran to the end: nothing of the root is left in AWS
    connection: Connection | None = None  # how to reach the database, from the root's outputs


def apply_roots(
    repo: Path,
    roots: Sequence[str],
    terraform: Terraform,
    destroy: bool = False,
    backend_file: str | None = None,
) -> list[ApplyReport]:
    """Plan and apply each root in turn (a saved plan, so what is applied is what was planned);
    with `destroy`, or for a root whose claim is marked for destruction (a destroy change),
    plan -destroy and apply that. One at a time: applies are not raced."""
    reports = []
    for root in roots:
        directory = repo / root
        destroying = destroy or destroy_requested(repo, root)
        try:
            terraform.init(directory, backend_file=backend_file)
            planned = terraform.plan(directory, destroy=destroying)
            if planned.lock is not None:
                reports.append(ApplyReport(root, False, planned.lock.describe()))
                continue
            assert planned.plan_file is not None
            summary = summarize_plan(terraform.show_json(directory, planned.plan_file))
            # A plan whose only change is AWS's own minor upgrade going back (a root written with a
            # full version) is no change anyone asked for, and AWS would refuse to apply it.
            if not planned.changes or (summary.is_empty and summary.minor_upgrades and not destroying):
                verb = "nothing left to destroy" if destroying else "no changes"
                report = ApplyReport(root, True, verb, summary, destroyed=destroying)
                reports.append(report if destroying else _with_connection(report, terraform, directory))
                continue
            applied = terraform.apply(directory, planned.plan_file)
        except (TerraformError, ValueError) as exc:
            reports.append(ApplyReport(root, False, str(exc)))
            continue
        if applied.lock is not None:
            reports.append(ApplyReport(root, False, applied.lock.describe(), summary))
        elif destroying:
            reports.append(
                ApplyReport(root, True, f"destroyed: {count_line_of(summary)}", summary, destroyed=True)
            )
        else:
            report = ApplyReport(root, True, f"applied: {count_line_of(summary)}", summary)
            reports.append(_with_connection(report, terraform, directory))
    return reports


def _with_connection(report: ApplyReport, terraform: Terraform, directory: Path) -> ApplyReport:
    """The report with the connection details the applied root outputs; when they cannot be read
    or are refused (one looks like a secret), the apply still stands and the report says why."""
    try:
        connection = connection_from_outputs(terraform.output_json(directory))
    except (TerraformError, ValueError) as exc:
        return replace(report, detail=f"{report.detail}; connection details not read: {exc}")
    return replace(report, connection=connection)


def destroy_requested(repo: Path, root: str) -> bool:
    """Whether the root's claim in the checkout is marked for destruction (by a destroy change)."""
    try:
        claim = json.loads((repo / root / "request.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(claim, dict) and bool(claim.get("destroy_requested_at"))


def remove_root(repo: Path, root: str, message: str, branch: str | None = None) -> str:
    """After a destroy: the root's removal committed on the checkout and, where the checkout has an
    `origin`, pushed to `branch` (default: the branch checked out). The commit that removes it there."""
    target = branch or git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if target == "HEAD":  # a detached checkout: the commit would be lost with it
        raise GitError(f"{root}: no branch to commit its removal on (check out a branch, or pass --pr)")
    git(repo, "rm", "-r", "-q", "--", root)
    git(repo, *IDENTITY, "commit", "-q", "--no-verify", "--no-gpg-sign", "-m", message)
    if "origin" in git(repo, "remote").split():
        return push_removal(repo, root, target)
    return git(repo, "rev-parse", "HEAD").strip()


def push_removal(repo: Path, root: str, branch: str, attempts: int = PUSH_ATTEMPTS) -> str:
    """Push HEAD, the one commit removing `root`, to `branch` on origin. When the branch moved since
    the checkout, fetch it, rebase that one commit onto it and push again (at most `attempts`
    pushes). The commit that removes the root on the branch."""
    env = push_environment(repo)
    for _ in range(attempts):
        pushed = run_git(repo, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", env=env)
        if pushed.returncode == 0:
            return git(repo, "rev-parse", "HEAD").strip()
        if not branch_moved(pushed.stdout + pushed.stderr):
            raise GitError(push_refusal(branch, pushed.stderr.strip() or pushed.stdout.strip()))
        git(repo, "fetch", "-q", "--no-tags", "origin", f"refs/heads/{branch}", env=env)
        tip = git(repo, "rev-parse", "FETCH_HEAD").strip()
        if not git(repo, "ls-tree", "--name-only", tip, "--", root).strip():
            return tip  # removed on the branch meanwhile (another run): nothing left to push
        rebased = run_git(repo, *IDENTITY, "rebase", "-q", "--onto", tip, "HEAD^", env=env)
        if rebased.returncode != 0:
            run_git(repo, "rebase", "--abort")
            raise GitError(
                f"{branch} changed {root} since this checkout (now at {tip[:12]}): the removal does not"
                f" apply there; remove {root} on {branch} by hand"
            )
    raise GitError(f"{branch} kept moving: the removal was not pushed after {attempts} attempts")


def branch_moved(output: str) -> bool:
    """Whether a push was refused only because the branch has commits the checkout lacks."""
    return "[rejected]" in output and ("fetch first" in output or "non-fast-forward" in output)


def push_refusal(branch: str, output: str) -> str:
    """What to tell about a push to `branch` that was refused for another reason than a moved branch."""
    if "403" in output or "Permission to" in output:
        why = "the token may not write to the repository (a GitHub Actions job needs `contents: write`)"
    elif "could not read Username" in output or "401" in output or "Authentication failed" in output:
        why = "no credentials to push with (set GITHUB_TOKEN to a token with contents: write)"
    elif "protected branch" in output.lower():
        why = f"{branch} is protected against this push (allow the token to push to it, or merge by hand)"
    else:
        why = "git push failed"
    return f"{why}: {output}"


def push_environment(repo: Path) -> dict[str, str] | None:
    """git's environment for fetching and pushing origin: with GITHUB_TOKEN and an http(s) origin
    whose checkout persisted no credentials (actions/checkout with persist-credentials: false), the
    token as actions/checkout sends it, an Authorization header given through git's environment
    configuration (GIT_CONFIG_COUNT): never in a file, a URL or a command line. Never prompts."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    token = os.environ.get("GITHUB_TOKEN", "")
    url = git(repo, "remote", "get-url", "origin").strip()
    match = re.match(r"^(https?://[^/@]+)/", url)
    persisted = run_git(repo, "config", "--get-regexp", r"^http\..*extraheader$").stdout.strip()
    if not token or match is None or persisted:
        return env
    count = int(env.get("GIT_CONFIG_COUNT") or 0)
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return env | {
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": f"http.{match.group(1)}/.extraheader",
        f"GIT_CONFIG_VALUE_{count}": f"AUTHORIZATION: basic {basic}",
    }


def count_line_of(summary: PlanSummary) -> str:
    return count_line(summary.create, summary.update, summary.delete, summary.replace)


def render_apply(reports: Sequence[ApplyReport], command: str) -> str:
    lines = [f"## dbvend {command}", ""]
    for report in reports:
        icon = "✅" if report.ok else "❌"
        detail = report.detail.strip()
        if report.ok or "\n" not in detail:
            lines.append(f"- {icon} `{report.directory}`: {md_escape(detail)}")
            if report.connection is not None:
                lines += ["", *connection_markdown(report.connection), ""]
        else:
            lines += [f"- {icon} `{report.directory}`:", "", *code_block(detail), ""]
    return "\n".join(lines) + "\n"


# -- claims --------------------------------------------------------------------------------------

CLAIM_PATH: Final = re.compile(r"^(terraform/[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*)/request\.json$")


def claims_at(repo: Path, ref: str = "HEAD") -> dict[str, str]:
    """Every database root's request.json at `ref`, by root: one `ls-tree` names the blobs, one
    `cat-file --batch` reads them by object id (no path lookups: those grow with the tree)."""
    listed = git(repo, "ls-tree", "-r", "-z", ref, "--", "terraform/")
    blobs: dict[str, str] = {}
    for entry in listed.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        match = CLAIM_PATH.match(path)
        if match and meta.split(" ")[1] == "blob":
            blobs[match.group(1)] = meta.split(" ")[2]
    texts = cat_file_batch(repo, list(blobs.values()))
    return {root: text for root, oid in blobs.items() if (text := texts.get(oid)) is not None}
