"""What `dbvend ci` does in an infrastructure repository's CI (the Action, the CircleCI job).

Only the database roots changed between two commits are looked at, so a run's work does not
grow with the number of databases in the repository: one `git diff --name-only` names them, one
`git cat-file --batch` reads what is needed of them at the head commit.
"""

from __future__ import annotations

import difflib
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from engine.claim import parse_claim
from engine.errors import DbvendError, InvalidRequest
from engine.render import render_claim

ROOT_OF: Final = re.compile(r"^(terraform/[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*)/[^/]+$")


class GitError(DbvendError):
    pass


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


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


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
    if not paths:
        return {}
    done = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input="".join(f"{ref}:{path}\n" for path in paths).encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise GitError(f"git cat-file failed: {done.stderr.decode(errors='replace').strip()}")
    out, position = done.stdout, 0
    found: dict[str, str | None] = {}
    for path in paths:
        end = out.index(b"\n", position)
        header = out[position:end].decode()
        position = end + 1
        if header.endswith(" missing") or header.endswith(" ambiguous"):
            found[path] = None
            continue
        size = int(header.rsplit(" ", 1)[1])
        found[path] = out[position : position + size].decode("utf-8", "replace")
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
