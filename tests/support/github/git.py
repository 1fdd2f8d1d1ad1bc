"""A bare git repository changed only through plumbing (hash-object, update-index on a temporary index,
write-tree, commit-tree, update-ref), never a working tree, so tests can check history with `git log`."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

ZERO_OID = "0" * 40
BAD_REF_CHARACTERS = frozenset(" ~^:?*[\\")
GITHUB_IDENTITY = ("GitHub", "noreply@github.com")  # the committer of what GitHub writes itself


class GitCommandError(RuntimeError):
    """A git command failed; carries its stderr."""


def as_bytes(files: Mapping[str, str | bytes | None]) -> dict[str, bytes | None]:
    """File changes as commit_files takes them: text is UTF-8, None still deletes."""
    return {
        path: content.encode() if isinstance(content, str) else content for path, content in files.items()
    }


class BareRepository:
    """A bare git repository changed only through plumbing, never a working tree."""

    def __init__(self, path: Path, initial_branch: str = "main") -> None:
        self.path = path
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LC_ALL": "C",
        }
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            self.git("init", "--quiet", "--bare", f"--initial-branch={initial_branch}", str(path))

    def run(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """One git command on this repository, its output as bytes; the caller judges the exit code."""
        return subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=stdin,
            capture_output=True,
            env={**self.env, **(env or {})},
            check=False,
            timeout=30,
        )

    def git(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None, check: bool = True
    ) -> str:
        result = self.run(*args, stdin=stdin, env=env)
        if check and result.returncode != 0:
            raise GitCommandError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode(errors="replace").strip()

    @staticmethod
    def valid_ref(ref: str) -> bool:
        """`git check-ref-format` rules, in Python: ref lookups are the hottest path."""
        parts = ref.split("/")
        return (
            ref.startswith("refs/")
            and len(parts) >= 3
            and not any(part == "" or part.startswith(".") or part.endswith(".lock") for part in parts)
            and not ref.endswith(".")
            and ".." not in ref
            and "@{" not in ref
            and not any(char in BAD_REF_CHARACTERS or ord(char) < 0x20 or ord(char) == 0x7F for char in ref)
        )

    def ref_sha(self, ref: str) -> str | None:
        """The commit a full ref name (refs/heads/x) points to, or None; no abbreviation or guessing."""
        if not self.valid_ref(ref):
            return None
        sha = self.git("show-ref", "--verify", "--hash", ref, check=False)
        return sha or None

    def resolve(self, expression: str) -> str | None:
        """The object a revision expression (main, a sha, main:dbvend.yaml) names, or None."""
        if not expression or expression.startswith("-") or "\n" in expression:
            return None
        return self.git("rev-parse", "--verify", "--quiet", expression, check=False) or None

    def resolve_commit(self, ref: str) -> str | None:
        return self.resolve(f"{ref}^{{commit}}") if self.resolve(ref) else None

    def commit_of_sha(self, sha: str) -> str | None:
        """The commit a full 40-digit sha names, or None: where GitHub takes a sha, not a ref name."""
        return self.resolve_commit(sha) if re.fullmatch(r"[0-9a-f]{40}", sha) else None

    def object_type(self, oid: str) -> str:
        return self.git("cat-file", "-t", oid)

    def blob(self, oid: str) -> bytes:
        result = self.run("cat-file", "blob", oid)
        if result.returncode != 0:
            raise GitCommandError(
                f"git cat-file blob {oid}: {result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout

    def blobs(self, oids: list[str]) -> dict[str, bytes]:
        """Many blobs by id in one `git cat-file --batch`."""
        if not oids:
            return {}
        out = self.run("cat-file", "--batch", stdin="".join(f"{oid}\n" for oid in oids).encode()).stdout
        found: dict[str, bytes] = {}
        position = 0
        for oid in oids:
            end = out.index(b"\n", position)
            size = int(out[position:end].rsplit(b" ", 1)[1])
            found[oid] = out[end + 1 : end + 1 + size]
            position = end + 1 + size + 1
        return found

    def tree_entries(self, treeish: str, recursive: bool = False) -> list[tuple[str, str, str]]:
        """(type, oid, path) of each entry of a tree (`main:terraform`); recursive: of every tree and
        blob below it too, parents before their children."""
        listing = self.git("ls-tree", *(["-r", "-t"] if recursive else []), "-z", treeish).split("\0")
        entries = []
        for line in filter(None, listing):
            meta, path = line.split("\t", 1)
            _mode, kind, oid = meta.split()
            entries.append((kind, oid, path))
        return entries

    def refs(self, prefix: str = "refs/heads/") -> dict[str, str]:
        listing = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return dict(line.split(" ", 1) for line in listing.splitlines())

    def update_ref(self, ref: str, new: str, old: str) -> bool:
        """Compare-and-swap: moves ref from old (ZERO_OID: must not exist) to new; False when it moved."""
        return self.run("update-ref", ref, new, old).returncode == 0

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    def commit_files(
        self,
        parent: str | None,
        changes: Mapping[str, bytes | None],
        message: str,
        author: tuple[str, str],
        committer: tuple[str, str] = GITHUB_IDENTITY,
    ) -> str:
        """One commit on top of parent: bytes add or replace a file, None deletes it."""
        lines = []
        for path, content in changes.items():
            if content is None:
                lines.append(f"0 {ZERO_OID}\t{path}")
            else:
                oid = self.git("hash-object", "-w", "--stdin", stdin=content)
                lines.append(f"100644 {oid}\t{path}")
        with tempfile.TemporaryDirectory(prefix="fake-github-index-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent is not None:
                self.git("read-tree", f"{parent}^{{tree}}", env=index)
            self.git("update-index", "--index-info", stdin="\n".join(lines).encode() + b"\n", env=index)
            tree = self.git("write-tree", env=index)
        return self.commit_tree(tree, [parent] if parent else [], message, author, committer)

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: tuple[str, str],
        committer: tuple[str, str] = GITHUB_IDENTITY,
    ) -> str:
        identity = {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
        }
        parent_args = [arg for parent in parents for arg in ("-p", parent)]
        return self.git("commit-tree", tree, *parent_args, "-F", "-", stdin=message.encode(), env=identity)

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of merging head into base, or None on conflicts (git merge-tree --write-tree)."""
        result = self.run("merge-tree", "--write-tree", "--no-messages", base, head)
        if result.returncode == 1:
            return None
        if result.returncode != 0:
            raise GitCommandError(f"git merge-tree: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode().splitlines()[0]

    def count_commits(self, base: str, head: str) -> int:
        return int(self.git("rev-list", "--count", f"{base}..{head}"))

    def diff_stats(self, base: str, head: str) -> tuple[int, int, int]:
        """(additions, deletions, changed files) of head against its merge base with base."""
        additions = deletions = files = 0
        for line in self.git("diff", "--numstat", f"{base}...{head}").splitlines():
            added, deleted, _path = line.split("\t", 2)
            additions += int(added) if added != "-" else 0
            deletions += int(deleted) if deleted != "-" else 0
            files += 1
        return additions, deletions, files

    def log(self, ref: str) -> list[str]:
        return self.git("log", "--format=%H %s", ref).splitlines()
