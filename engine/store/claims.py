"""The claims index in the ledger (issue 24): per database root on the default branch, its
request.json with its blob id and the commit it was read at, and the index's own state (the commit
and terraform/ tree it last matched). Written by engine.claim_index's flows; read instead of every file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.claim_index import IndexedClaim, IndexState
from engine.store.base import Store
from engine.store.records import now_text
from engine.store.schema import claim_index, claim_index_state

STATE_KEY = "main"  # the one row of claim_index_state: the default branch's


@dataclass(frozen=True)
class IndexRow:
    """An index row as stored: the claim's fields, the commit it was read at, when."""

    claim: IndexedClaim
    commit_oid: str
    indexed_at: str


_CLAIM_FIELDS = tuple(IndexedClaim.__dataclass_fields__)


class ClaimIndex(Store):
    """The claims index (engine.store.ledger.Ledger)."""

    def indexed_claims(self) -> dict[str, str]:
        """Every indexed root's request.json text, by root (what backend.claims() answers)."""
        with self.reading() as connection:
            rows = connection.execute(sa.select(claim_index.c.root, claim_index.c.claim).order_by("root"))
            return {str(row.root): str(row.claim) for row in rows}

    def indexed_blobs(self) -> dict[str, str]:
        """Every indexed root's blob id: what a reconcile compares the tree with."""
        with self.reading() as connection:
            rows = connection.execute(sa.select(claim_index.c.root, claim_index.c.blob_oid))
            return {str(row.root): str(row.blob_oid) for row in rows}

    def indexed(self, root: str) -> IndexRow | None:
        """One root's row, None when the index does not have it."""
        with self.reading() as connection:
            row = connection.execute(sa.select(claim_index).where(claim_index.c.root == root)).one_or_none()
        if row is None:
            return None
        claim = IndexedClaim(**{name: getattr(row, name) for name in _CLAIM_FIELDS})
        return IndexRow(claim, str(row.commit_oid), str(row.indexed_at))

    def index_state(self) -> IndexState | None:
        """Where the index stands; None when it was never filled."""
        with self.reading() as connection:
            return _state(connection)

    def apply_index(
        self,
        commit_oid: str,
        tree_oid: str | None,
        upserts: Sequence[IndexedClaim],
        removed: Sequence[str],
        *,
        expected_commit: str | None = None,
    ) -> bool:
        """Write rows read at `commit_oid`, delete `removed` roots and move the state there, in one
        transaction. With `expected_commit` (a push's `before`), only when the index stands at that
        commit: False, nothing written, when it does not (a push missed or out of order)."""
        at = now_text()
        with self.transaction() as connection:
            if expected_commit is not None:
                state = _state(connection)
                if state is None or state.commit_oid != expected_commit:
                    return False
            gone = [*removed, *(row.root for row in upserts)]  # an upsert: its old row deleted first
            for start in range(0, len(gone), 500):  # IN lists of bounded length (SQLite's variables)
                chunk = gone[start : start + 500]
                connection.execute(claim_index.delete().where(claim_index.c.root.in_(chunk)))
            if upserts:
                values = [{**asdict(row), "commit_oid": commit_oid, "indexed_at": at} for row in upserts]
                connection.execute(claim_index.insert(), values)
            _set_state(connection, commit_oid, tree_oid, at)
        return True


def _state(connection: Connection) -> IndexState | None:
    row = connection.execute(
        sa.select(claim_index_state).where(claim_index_state.c.key == STATE_KEY)
    ).one_or_none()
    if row is None:
        return None
    return IndexState(str(row.commit_oid), row.tree_oid, str(row.reconciled_at))


def _set_state(connection: Connection, commit_oid: str, tree_oid: str | None, at: str) -> None:
    values = {"commit_oid": commit_oid, "tree_oid": tree_oid, "reconciled_at": at}
    moved = connection.execute(
        claim_index_state.update().where(claim_index_state.c.key == STATE_KEY).values(**values)
    )
    if moved.rowcount == 0:
        connection.execute(claim_index_state.insert().values(key=STATE_KEY, **values))
