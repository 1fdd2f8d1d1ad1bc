"""The local GitOps backend: a real git repository, a branch and a commit per change."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from engine.catalog import CATALOG_FILE, Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.ci import cat_file_batch, claims_at
from engine.claim import Claim, format_time
from engine.claim_index import claim_blobs, ls_tree_entries
from engine.errors import ChangeNotFound, GitError, GitOpsError, NotOpen
from engine.gitops import (
    BranchFound,
    Change,
    ClaimFiles,
    ClaimTree,
    Proposal,
    RepositoryIdentity,
    Sighting,
    changes_of_database,
    conflict,
    key_and_branch,
)
from engine.policy import PolicyDecision
from engine.render import RenderedRoot

MAIN: Final = "main"
# dbvend is the author and the committer of what it writes.
AUTHOR: Final = {
    f"GIT_{role}_{part}": value
    for role in ("AUTHOR", "COMMITTER")
    for part, value in (("NAME", "dbvend"), ("EMAIL", "dbvend@localhost"))
}
GITIGNORE: Final = ".terraform/\n*.tfplan\n*.tfstate\n*.tfstate.backup\n"


def layout_files() -> dict[str, str]:
    """What `dbvend init` writes into an infrastructure repository."""
    return {
        CATALOG_FILE: default_catalog_text(),
        "terraform/README.md": (
            "One directory per database: terraform/<env>/<identifier>/ holds request.json\n"
            "(the claim, written by dbvend) and main.tf (generated from it; never edit by hand).\n"
        ),
        ".gitignore": GITIGNORE,
        ".github/ISSUE_TEMPLATE/database.yml": issue_form_text(),
        **{f".github/workflows/{name}": text for name, text in workflow_callers().items()},
    }


def workflow_callers() -> dict[str, str]:
    """The thin workflows that call dbvend's reusable ones (workflows/*.yml), by file name."""
    from importlib import resources

    folder = resources.files("engine.workflows")
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yml")
    }


def issue_form_text() -> str:
    """The GitHub issue form for database requests (workflows/ISSUE_TEMPLATE/database.yml)."""
    from importlib import resources

    form = resources.files("engine.workflows").joinpath("ISSUE_TEMPLATE", "database.yml")
    return form.read_text(encoding="utf-8")


def init_layout(directory: Path) -> list[str]:
    """Write the layout files that are missing; returns the paths written."""
    written = []
    for relative, text in layout_files().items():
        target = directory / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(relative)
    return written


class LocalRepository:
    """A git repository used as the GitOps store; writes go through git's plumbing.

    Branches and commits are made without touching the working tree or index,
    so a user's own checkout of the repository is never disturbed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.git_dir = Path(self._git("rev-parse", "--absolute-git-dir").strip())
        self.state = self.git_dir / "dbvend"
        (self.state / "changes").mkdir(parents=True, exist_ok=True)
        (self.state / "requests").mkdir(exist_ok=True)
        self._catalog: tuple[tuple[object, ...], Catalog] | None = None

    @classmethod
    def open_or_create(cls, path: Path) -> LocalRepository:
        """Open the repository, creating it with dbvend.yaml and a first commit when missing."""
        if not (path / ".git").exists() and not _is_git_dir(path):
            path.mkdir(parents=True, exist_ok=True)
            _run(["git", "init", "-q", "-b", MAIN, str(path)])
            init_layout(path)
            _run(["git", "-C", str(path), "add", "-A"])
            _run(
                [
                    "git",
                    "-C",
                    str(path),
                    "commit",
                    "-q",
                    "--no-verify",
                    "--no-gpg-sign",
                    "-m",
                    "dbvend: initialise the repository",
                ],
                env=AUTHOR,
            )
        repo = cls(path)
        if repo._rev(f"refs/heads/{MAIN}") is None:
            raise GitOpsError(f"{path} has no '{MAIN}' branch; dbvend proposes changes against {MAIN}")
        return repo

    # -- reading -------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        """dbvend.yaml on main, read and parsed once per version of main."""
        stamp = self._main_stamp()
        cached = self._catalog
        if stamp is not None and cached is not None and cached[0] == stamp:
            return cached[1]
        text = self._read(f"{MAIN}:{CATALOG_FILE}")
        if text is None:
            catalog = parse_catalog(default_catalog_text(), "dbvend.yaml (built-in defaults)")
        else:
            catalog = parse_catalog(text, f"{CATALOG_FILE} on {MAIN}")
        if stamp is not None:  # main moving meanwhile only makes the next call read again
            self._catalog = (stamp, catalog)
        return catalog

    def read_file(self, ref: str | None, path: str) -> str | None:
        return self._read(f"{ref or MAIN}:{path}")

    def identity(self) -> RepositoryIdentity:
        """A local repository has a path, not a GitHub name: webhooks name DBVEND_GITHUB_REPOSITORY."""
        return RepositoryIdentity(full_name=str(self.path), default_branch=MAIN)

    def default_branch(self) -> str:
        return MAIN

    def claims(self, ref: str | None = None) -> dict[str, str]:
        ref = ref or MAIN
        try:
            return claims_at(self.path, ref)
        except GitError as exc:
            raise GitOpsError(f"cannot read the claims at {ref}: {exc}") from None

    def claim_tree(self, ref: str | None = None) -> ClaimTree:
        """One `rev-parse` per object named and one `ls-tree -r` (no file is read)."""
        commit = self._rev(f"{ref or MAIN}^{{commit}}")
        if commit is None:
            raise GitOpsError(f"cannot read the claims at {ref or MAIN}: no such commit")
        tree = self._rev(f"{commit}:terraform")
        listing = self._git("ls-tree", "-r", "-z", commit, "--", "terraform/") if tree else ""
        return ClaimTree(commit, tree, claim_blobs(ls_tree_entries(listing)))

    def claim_texts(self, oids: Collection[str]) -> dict[str, str]:
        """One `cat-file --batch` (engine.ci's reader of claims_at)."""
        try:
            found = cat_file_batch(self.path, sorted(set(oids)))
        except GitError as exc:
            raise GitOpsError(f"cannot read claims: {exc}") from None
        return {oid: text for oid, text in found.items() if text is not None}

    def claim_files(self, commit: str, roots: Collection[str]) -> ClaimFiles:
        tree = self.claim_tree(commit)
        blobs = {root: tree.blobs[root] for root in roots if root in tree.blobs}
        texts = self.claim_texts(blobs.values())
        found = {root: (oid, texts[oid]) for root, oid in blobs.items() if oid in texts}
        return ClaimFiles(tree.commit_oid, tree.tree_oid, found)

    def report_checks(self, change: Change, decision: PolicyDecision) -> None:
        """A local repository has no checks API: the change's description carries the decision."""

    def changes(self, status: str | None = None) -> list[Change]:
        found = []
        for item in (self.state / "changes").glob("*.json"):
            change = Change.from_json(item.read_text(encoding="utf-8"))
            if status is None or change.status == status:
                found.append(change)
        return sorted(found, key=lambda c: c.id)

    def open_changes_of(self, environment: str, identifier: str) -> list[Change]:
        return changes_of_database(self.changes("open"), environment, identifier)

    def change(self, change_id: int) -> Change:
        item = self.state / "changes" / f"{change_id}.json"
        if not item.exists():
            raise ChangeNotFound(f"no change #{change_id}")  # not the server's repository path
        return Change.from_json(item.read_text(encoding="utf-8"))

    def check_absent(self, claim: Claim) -> Sighting:
        return self._sight(claim, None)

    # -- writing -------------------------------------------------------------------------

    def open_change(self, proposal: Proposal, seen: Sighting | None = None) -> Change:
        """Branch dbvend/<env>/<id> with one commit holding the root's files, and its change.

        Idempotent on the change key: a redelivered request gets the change it made before, also
        when a crash came between making the branch and recording the change. `seen` is not
        used: the repository is read again under the lock, which is cheap here.
        """
        key, branch = proposal.key, proposal.branch
        with self._locked():
            now = self._sight(proposal.claim, proposal.kind)
            if now.mine is not None:  # a redelivery: whatever became of its change, it is not made twice
                return self.change(now.mine)
            main = now.main_commit
            if now.branch is not None:  # made by this request before a crash: record it now
                recorded = [c for c in self.changes("open") if c.request_id == key]
                if recorded:  # recorded before requests/ pointers existed
                    return recorded[0]
                branch_sha = now.branch.commit
                commit, base = branch_sha, self._git("rev-parse", f"{branch_sha}^").strip()
            else:
                tree = self._tree_with(main, proposal.rendered)
                message = f"{proposal.title}\n\nRequest-Id: {key}\n"
                commit = self._git(
                    "commit-tree", "--no-gpg-sign", tree, "-p", main, "-F", "-", input=message, env=AUTHOR
                ).strip()
                self._git("update-ref", f"refs/heads/{branch}", commit, "")
                base = main
            change = Change(
                id=self._next_id(),
                branch=branch,
                status="open",
                title=proposal.title,
                request_id=key,
                root=proposal.rendered.root,
                commit=commit,
                base=base,
                description=proposal.description,
                created_at=format_time(datetime.now(UTC)),
            )
            self._save(change)
            return change

    def change_of_request(self, request_id: str) -> Change | None:
        """The change a request made, whatever its status."""
        change_id = self._change_id_of(request_id)
        return self.change(change_id) if change_id is not None else None

    def merge(self, change_id: int) -> Change:
        """Merge an open change into main (a merge commit), then delete its branch."""
        with self._locked():
            change, head = self._open_one(change_id)
            main = self._rev(f"refs/heads/{MAIN}")
            if head is None or main is None:
                raise NotOpen(f"branch {change.branch} of change #{change_id} is gone")
            merged = _run(
                ["git", "-C", str(self.path), "merge-tree", "--write-tree", main, head], check=False
            )
            if merged.returncode != 0:
                raise NotOpen(f"change #{change_id} conflicts with {MAIN}: {merged.stdout.strip()[:500]}")
            tree = merged.stdout.split()[0]
            message = f"Merge change #{change.id}: {change.title}\n\nRequest-Id: {change.request_id}\n"
            commit = self._git(
                "commit-tree",
                "--no-gpg-sign",
                tree,
                "-p",
                main,
                "-p",
                head,
                "-F",
                "-",
                input=message,
                env=AUTHOR,
            ).strip()
            self._git("update-ref", f"refs/heads/{MAIN}", commit, main)
            self._git("update-ref", "-d", f"refs/heads/{change.branch}", head)
            change = change.merged(format_time(datetime.now(UTC)), commit)
            self._save(change)
            self._sync_checkout(main, commit)
            # Plumbing never packs; let git do its usual housekeeping when loose objects pile up.
            _run(["git", "-C", str(self.path), "gc", "--auto", "--quiet"], check=False)
            return change

    def close(self, change_id: int) -> Change:
        """Abandon an open change: its branch is deleted, the database may be requested again."""
        with self._locked():
            change, head = self._open_one(change_id)
            if head is not None:
                self._git("update-ref", "-d", f"refs/heads/{change.branch}", head)
            change = replace(change, status="closed")
            self._save(change)
            return change

    # -- plumbing ------------------------------------------------------------------------

    def _open_one(self, change_id: int) -> tuple[Change, str | None]:
        """An open change and its branch's commit (None when the branch is gone); NotOpen else."""
        change = self.change(change_id)
        if change.status != "open":
            raise NotOpen(f"change #{change_id} is {change.status}, not open")
        return change, self._rev(f"refs/heads/{change.branch}")

    def _batch_check(self, claim: Claim, branch: str) -> tuple[str | None, str | None, bool]:
        """main's commit, the branch's commit, whether main holds the root: one git call."""
        queries = [
            f"refs/heads/{MAIN}",
            f"refs/heads/{branch}",
            f"refs/heads/{MAIN}:{claim.root}/request.json",
        ]
        out = self._git("cat-file", "--batch-check", input="\n".join(queries) + "\n").splitlines()
        shas = [None if line.endswith(" missing") else line.split()[0] for line in out]
        return shas[0], shas[1], shas[2] is not None

    def _sight(self, claim: Claim, kind: str | None) -> Sighting:
        """What the repository holds for this change's database now; Conflict (engine.gitops.conflict)
        unless it is free or this very change's."""
        key, branch = key_and_branch(claim, kind)
        main, branch_sha, on_main = self._batch_check(claim, branch)
        if main is None:
            raise GitOpsError(f"the repository has no '{MAIN}' branch")
        found = None
        if branch_sha is not None:
            change = next((c for c in self.changes("open") if c.branch == branch), None)
            which = f"change #{change.id}" if change else f"branch {branch}"
            found = BranchFound(branch_sha, self._request_of(branch_sha), f"in open {which}")
        seen = Sighting(key, MAIN, main, on_main, found, mine=self._change_id_of(key))
        refused = conflict(claim, kind, seen)
        if refused is not None:
            raise refused
        return seen

    def _change_id_of(self, key: str) -> int | None:
        """The id of the change a change key made, whatever its status."""
        pointer = self.state / "requests" / _request_key(key)
        return int(pointer.read_text()) if pointer.exists() else None

    def _request_of(self, commit: str) -> str | None:
        """The Request-Id trailer of a commit dbvend made."""
        message = self._git("cat-file", "commit", commit)
        for line in reversed(message.splitlines()):
            if line.startswith("Request-Id: "):
                return line.removeprefix("Request-Id: ").strip()
        return None

    def _tree_with(self, base: str, rendered: RenderedRoot) -> str:
        """base's tree with the root's files added, built in a scratch index and work tree."""
        with tempfile.TemporaryDirectory(prefix="dbvend-") as scratch:
            work = Path(scratch)
            for name, text in rendered.files.items():
                target = work / rendered.relative(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            index = work / ".index"
            shutil.copyfile(self._index_of(base), index)
            env = {"GIT_INDEX_FILE": str(index)}
            paths = [rendered.relative(name) for name in rendered.files]
            self._git("--work-tree", str(work), "update-index", "--add", "--", *paths, env=env)
            return self._git("write-tree", env=env).strip()

    def _index_of(self, commit: str) -> Path:
        """An index of `commit`'s tree, kept between requests (called under the lock).

        Reading main's tree costs time in proportion to the databases on main. The index is
        kept instead: when main has moved since, only the paths that differ are applied to
        it, so a request costs the same with ten databases on main or ten thousand.
        """
        index, marker = self.state / "main.index", self.state / "main.index.commit"
        cached = marker.read_text().strip() if marker.exists() and index.exists() else None
        if cached == commit:
            return index
        env = {"GIT_INDEX_FILE": str(index)}
        marker.unlink(missing_ok=True)  # an update cut short must not pass for a good index
        if cached is None or self._rev(f"{cached}^{{commit}}") is None:
            self._git("read-tree", commit, env=env)
        else:
            # Raw diff lines are ":old-mode new-mode old-sha new-sha status\tpath"; mode 0 removes.
            diff = self._git("diff-tree", "-r", "--no-renames", "-z", cached, commit)
            fields = diff.split("\0")
            entries = [
                f"{meta.split()[1]} {meta.split()[3]}\t{path}"
                for meta, path in zip(fields[0::2], fields[1::2], strict=False)
                if meta.startswith(":")
            ]
            if entries:
                self._git("update-index", "-z", "--index-info", input="\0".join(entries) + "\0", env=env)
                # Rebuild the cached trees the update invalidated (git saves them in the index),
                # or each request's write-tree would rehash every directory added since.
                self._git("write-tree", env=env)
        _write_atomically(marker, f"{commit}\n")
        return index

    def _sync_checkout(self, old: str, new: str) -> None:
        """When main is checked out here, bring the working tree along (if it is clean)."""
        if _is_git_dir(self.path):
            return
        head = _run(["git", "-C", str(self.path), "symbolic-ref", "-q", "HEAD"], check=False)
        if head.stdout.strip() == f"refs/heads/{MAIN}":
            _run(["git", "-C", str(self.path), "read-tree", "-m", "-u", old, new], check=False)

    def _next_id(self) -> int:
        counter = self.state / "last-change-id"
        last = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(f"{last + 1}\n")
        return last + 1

    def _save(self, change: Change) -> None:
        target = self.state / "changes" / f"{change.id}.json"
        _write_atomically(target, change.to_json())
        pointer = self.state / "requests" / _request_key(change.request_id)
        if not pointer.exists():
            _write_atomically(pointer, f"{change.id}\n")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.state / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _rev(self, ref: str) -> str | None:
        done = _run(["git", "-C", str(self.path), "rev-parse", "-q", "--verify", ref], check=False)
        return done.stdout.strip() or None

    def _main_stamp(self) -> tuple[object, ...] | None:
        """Identity of main's ref files: git replaces a ref file (lock, then rename) whenever it
        moves the ref, so a new inode or time means main moved. None where refs live elsewhere
        (a linked worktree, the reftable format): then nothing is cached."""
        if (self.git_dir / "commondir").exists() or (self.git_dir / "reftable").exists():
            return None
        stamp: list[object] = []
        for ref_file in (self.git_dir / "refs" / "heads" / MAIN, self.git_dir / "packed-refs"):
            try:
                info = ref_file.stat()
            except FileNotFoundError:
                stamp.append(None)
            else:
                stamp.append((info.st_ino, info.st_mtime_ns, info.st_size))
        return tuple(stamp)

    def _read(self, spec: str) -> str | None:
        done = _run(["git", "-C", str(self.path), "cat-file", "blob", spec], check=False)
        return done.stdout if done.returncode == 0 else None

    def _git(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        return _run(["git", "-C", str(self.path), *args], input=input, env=env).stdout


def _write_atomically(target: Path, text: str) -> None:
    partial = target.with_suffix(".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)


def _request_key(request_id: str) -> str:
    """A file name for any request id."""
    return hashlib.sha256(request_id.encode()).hexdigest()[:32]


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def _run(
    argv: Sequence[str], input: str | None = None, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(argv, input=input, capture_output=True, text=True, env=full_env, check=False)
    if check and done.returncode != 0:
        raise GitOpsError(f"git failed: {' '.join(argv[3:])}: {done.stderr.strip()[:500]}")
    return done
