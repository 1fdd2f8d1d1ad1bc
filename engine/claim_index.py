"""The claims index (issue 24): which blobs a reconcile reads and which roots it removes, what a push
changed, the row a claim's text becomes (pure); and the flows that keep the index up to date, given
the index (the ledger, engine.store.claims) and the GitOps backend by the entry points: a reconcile
reading the tree's blob ids and only the blobs that changed, a push's changed claims read at its
commit, and `dbvend serve`'s pass that reconciles every so often."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from engine.ci import CLAIM_PATH
from engine.claim import parse_claim
from engine.cost import estimate_monthly_cost
from engine.errors import DbvendError
from engine.gitops import GitOpsBackend
from engine.roots import Root

log = logging.getLogger("dbvend.index")

# Blobs (or paths) asked for in one GraphQL query: GitHub allows 500,000 nodes per query, but an
# answer of request.json texts (~2 KB each) past a hundred of them nears its 10-second limit.
BLOBS_PER_QUERY: Final = 100
# A push lists at most this many commits (GitHub's webhook limit): more means the list was cut.
PUSH_COMMITS_LIMIT: Final = 2048
RECONCILE_EVERY: Final = 60.0  # seconds between two reconciles of `dbvend serve`'s pass

T = TypeVar("T")


@dataclass(frozen=True)
class IndexedClaim:
    """One database root's request.json as the index keeps it: its text always, and the fields the
    fleet sorts and totals by (None when the claim does not parse)."""

    root: str  # terraform/<env>/<id>
    environment: str
    identifier: str
    blob_oid: str
    claim: str  # request.json's text
    expires_at: str | None = None
    engine: str | None = None
    owner: str | None = None
    team: str | None = None
    monthly_usd: float | None = None


@dataclass(frozen=True)
class IndexDiff:
    """What a reconcile does: the blobs to read (by root) and the roots to remove."""

    fetch: dict[str, str]  # root -> blob oid whose text is not in the index
    removed: list[str]  # roots in the index that are gone from the tree
    unchanged: int  # roots whose blob id the index has already


def index_diff(tree: Mapping[str, str], indexed: Mapping[str, str]) -> IndexDiff:
    """Compare the tree's {root: blob oid} with the index's: a root is read again only when its blob
    id changed (same id, same bytes: git's own promise)."""
    fetch = {root: oid for root, oid in sorted(tree.items()) if indexed.get(root) != oid}
    removed = sorted(root for root in indexed if root not in tree)
    return IndexDiff(fetch=fetch, removed=removed, unchanged=len(tree) - len(fetch))


def indexed_claim(root: str, blob_oid: str, text: str) -> IndexedClaim:
    """The index row of a root's request.json. A claim that does not parse keeps its text with the
    other fields None: it is never dropped silently (logged, and shown as a broken claim)."""
    where = Root.of(root)
    row = IndexedClaim(root, where.environment, where.identifier, blob_oid, text)
    try:
        claim = parse_claim(text)
        cost = estimate_monthly_cost(claim).monthly_usd
    except (DbvendError, ValueError, KeyError, TypeError) as exc:
        log.warning("claim at %s (blob %s) does not parse; indexed as text only: %s", root, blob_oid, exc)
        return row
    request = claim.request
    return IndexedClaim(
        root,
        where.environment,
        where.identifier,
        blob_oid,
        text,
        expires_at=claim.expires_at,
        engine=request.database_engine,
        owner=request.owner,
        team=request.team,
        monthly_usd=cost,
    )


def claim_root(path: str) -> str | None:
    """terraform/<env>/<id> of a path that is a database root's request.json, else None."""
    found = CLAIM_PATH.match(path)
    return found.group(1) if found else None


def claim_blobs(entries: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """{root: blob oid} of the request.json files among (type, oid, path) tree entries."""
    return {
        root: oid for kind, oid, path in entries if kind == "blob" and (root := claim_root(path)) is not None
    }


def ls_tree_entries(listing: str) -> Iterator[tuple[str, str, str]]:
    """(type, oid, path) of each entry of `git ls-tree -r -z` output."""
    for line in listing.split("\0"):
        if line:
            meta, _, path = line.partition("\t")
            _mode, kind, oid = meta.split(" ")
            yield kind, oid, path


def batches(items: Sequence[T], size: int = BLOBS_PER_QUERY) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class PushChanges:
    """What a push to the default branch tells the index: the roots whose request.json a commit
    added, modified or removed, or why the push cannot be trusted to tell (then reconcile)."""

    before: str
    after: str
    roots: list[str]
    terraform_touched: bool  # anything under terraform/ changed (its tree id moved)
    reconcile: str | None = None  # why the commits' file lists are not enough


ZERO_OID: Final = "0" * 40


def push_changes(payload: Mapping[str, Any], default_branch: str) -> PushChanges | None:
    """A push's changes to the claims, or None when the push is not to the default branch (a tag,
    another branch, a deletion)."""
    after, before = str(payload.get("after") or ""), str(payload.get("before") or "")
    if (
        payload.get("ref") != f"refs/heads/{default_branch}"
        or payload.get("deleted")
        or after in ("", ZERO_OID)
    ):
        return None
    commits = [c for c in payload.get("commits") or [] if isinstance(c, Mapping)]
    paths = {
        str(path)
        for commit in commits
        for key in ("added", "modified", "removed")
        for path in commit.get(key) or []
    }
    roots = sorted({root for path in paths if (root := claim_root(path)) is not None})
    why = None
    if payload.get("forced"):
        why = "a forced push: its commits do not say what left the branch"
    elif before in ("", ZERO_OID):
        why = "the branch was created by this push"
    elif not commits and before != after:
        why = "the push lists no commits"
    elif len(commits) >= PUSH_COMMITS_LIMIT:
        why = f"the push lists {len(commits)} commits, GitHub's most: the list may be cut"
    touched = any(path.startswith("terraform/") for path in paths)
    return PushChanges(before, after, roots, touched, why)


@dataclass(frozen=True)
class IndexState:
    """Where the index stands: the default branch's commit it matches, terraform/'s tree id there
    (None: no terraform/ at all), and when it was last brought there."""

    commit_oid: str
    tree_oid: str | None
    reconciled_at: str


class IndexStore(Protocol):
    """What the flows need of the index (engine.store.claims.ClaimIndex, the ledger's)."""

    def index_state(self) -> IndexState | None: ...

    def indexed_blobs(self) -> dict[str, str]: ...

    def apply_index(
        self,
        commit_oid: str,
        tree_oid: str | None,
        upserts: Sequence[IndexedClaim],
        removed: Sequence[str],
        *,
        expected_commit: str | None = None,
    ) -> bool: ...


@dataclass(frozen=True)
class ReconcileReport:
    """What a reconcile read and changed."""

    read_blobs: int  # blobs fetched (their ids changed or are new)
    removed: int  # roots gone from the tree, deleted from the index
    unchanged: int  # roots whose blob id the index had already
    commit_oid: str = ""
    skipped: bool = False  # terraform/'s tree id was the one indexed: nothing else read


def reconcile_index(index: IndexStore, backend: GitOpsBackend) -> ReconcileReport:
    """Bring the index to the default branch: one tree listing (ids, no text); if terraform/'s tree
    changed since, the blobs whose ids changed (batched), applied in one transaction."""
    tree = backend.claim_tree()
    state = index.index_state()
    if state is not None and state.tree_oid == tree.tree_oid:
        if state.commit_oid != tree.commit_oid:  # the branch moved, terraform/ did not
            index.apply_index(tree.commit_oid, tree.tree_oid, [], [])
        return ReconcileReport(0, 0, len(tree.blobs), tree.commit_oid, skipped=True)
    diff = index_diff(tree.blobs, index.indexed_blobs())
    texts = backend.claim_texts(diff.fetch.values()) if diff.fetch else {}
    unread = sorted(root for root, oid in diff.fetch.items() if oid not in texts)
    if unread:  # binary, too large for GitHub's GraphQL, or gone: indexed empty (a broken claim), and said
        log.warning("claims not readable as text, indexed empty: %s", ", ".join(unread))
    rows = [indexed_claim(root, oid, texts.get(oid, "")) for root, oid in diff.fetch.items()]
    index.apply_index(tree.commit_oid, tree.tree_oid, rows, diff.removed)
    report = ReconcileReport(len(diff.fetch), len(diff.removed), diff.unchanged, tree.commit_oid)
    log.info("claims index reconciled at %s: %s", tree.commit_oid[:12], report)
    return report


def index_push(index: IndexStore, backend: GitOpsBackend, push: PushChanges) -> str:
    """A push to the default branch into the index: the changed roots' request.json read at its
    `after` commit (one GraphQL query per hundred roots), removed roots deleted. A push the index
    cannot follow (never filled, not after the commit it stands at, forced, cut) reconciles
    instead. Returns what was done, for the delivery's answer."""
    state = index.index_state()
    if state is None:
        return "the index is not filled yet: the periodic pass fills it"
    if state.commit_oid == push.after:
        return "indexed already"
    if push.reconcile is None and state.commit_oid == push.before:
        if not push.terraform_touched:  # nothing under terraform/ changed: only the commit moves
            index.apply_index(push.after, state.tree_oid, [], [], expected_commit=push.before)
            return "no claim changed"
        files = backend.claim_files(push.after, push.roots)
        rows = [indexed_claim(root, oid, text) for root, (oid, text) in sorted(files.found.items())]
        removed = [root for root in push.roots if root not in files.found]
        if index.apply_index(push.after, files.tree_oid, rows, removed, expected_commit=push.before):
            return f"{len(rows)} claims indexed, {len(removed)} removed"
        why = "the index moved meanwhile"
    else:
        why = push.reconcile or f"the index stands at {state.commit_oid[:12]}, not {push.before[:12]}"
    report = reconcile_index(index, backend)
    return f"reconciled ({why}): {report.read_blobs} claims read, {report.removed} removed"


class ReconcilePass:
    """`dbvend serve`'s thread: reconcile now, then every `every` seconds, until `stop` is set.
    A failure is logged and tried again next time (GitHub down says nothing about the index)."""

    def __init__(self, index: IndexStore, backend: GitOpsBackend, every: float = RECONCILE_EVERY) -> None:
        self.index, self.backend, self.every = index, backend, every
        self.thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> ReconcilePass:
        self.thread = threading.Thread(target=self._run, args=(stop,), name="dbvend-index", daemon=True)
        self.thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                reconcile_index(self.index, self.backend)
            except Exception:
                log.exception("claims index not reconciled; trying again in %.0f s", self.every)
            stop.wait(self.every)
