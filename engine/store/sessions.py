"""What signing in with GitHub keeps in the ledger: the OAuth states handed out and not yet used,
and the portal sessions of people (by the SHA-256 of their cookie's token; never GitHub's token)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store.base import Store
from engine.store.records import now_text
from engine.store.schema import oauth_states, portal_sessions


@dataclass(frozen=True)
class PersonSession:
    """A person's portal session: who GitHub said they were when they signed in."""

    login: str
    user_id: int
    teams: tuple[str, ...]  # their organisation's team slugs
    permission: str  # on the infrastructure repository (engine.identity.PERMISSIONS)
    expires_at: float


class SignIns(Store):
    """OAuth states and people's portal sessions (engine.store.ledger.Ledger)."""

    def add_oauth_state(self, state_id_hash: str, next_path: str, expires_at: float) -> None:
        """A state handed out: its nonce's hash, where to go after signing in, until when."""
        with self.transaction() as connection:
            _purge(connection, time.time())
            connection.execute(
                oauth_states.insert().values(id=state_id_hash, next_path=next_path, expires_at=expires_at)
            )

    def take_oauth_state(self, state_id_hash: str, now: float) -> str | None:
        """The next path of an unexpired state, deleted as it is read: of two callbacks with the
        same state, on any instances, one gets it and the other None (a replay)."""
        with self.transaction() as connection:
            taken = connection.execute(
                oauth_states.delete()
                .where(oauth_states.c.id == state_id_hash, oauth_states.c.expires_at > now)
                .returning(oauth_states.c.next_path)
            ).all()
        return str(taken[0].next_path) if len(taken) == 1 else None

    def add_session(
        self,
        token_hash: str,
        login: str,
        user_id: int,
        teams: tuple[str, ...] | list[str],
        permission: str,
        expires_at: float,
    ) -> None:
        """A person's session, named by the SHA-256 of the token in their cookie."""
        with self.transaction() as connection:
            _purge(connection, time.time())
            connection.execute(
                portal_sessions.insert().values(
                    id=token_hash,
                    login=login,
                    user_id=user_id,
                    teams=json.dumps(sorted(teams)),
                    permission=permission,
                    created_at=now_text(),
                    expires_at=expires_at,
                )
            )

    def session(self, token_hash: str, now: float) -> PersonSession | None:
        """The unexpired session a cookie's token names, or None."""
        with self.reading() as connection:
            row = connection.execute(
                sa.select(portal_sessions).where(
                    portal_sessions.c.id == token_hash, portal_sessions.c.expires_at > now
                )
            ).one_or_none()
        return None if row is None else _session(row)

    def end_session(self, token_hash: str) -> None:
        """Sign a person out: their session's row goes (a copied cookie ends with it)."""
        with self.transaction() as connection:
            connection.execute(portal_sessions.delete().where(portal_sessions.c.id == token_hash))

    def purge_expired(self, now: float) -> None:
        """Forget expired states and sessions (each add does it too, by this machine's clock)."""
        with self.transaction() as connection:
            _purge(connection, now)


def _purge(connection: Connection, now: float) -> None:
    connection.execute(oauth_states.delete().where(oauth_states.c.expires_at <= now))
    connection.execute(portal_sessions.delete().where(portal_sessions.c.expires_at <= now))


def _session(row: Any) -> PersonSession:
    teams = json.loads(row.teams)
    return PersonSession(
        login=str(row.login),
        user_id=int(row.user_id),
        teams=tuple(str(team) for team in teams) if isinstance(teams, list) else (),
        permission=str(row.permission),
        expires_at=float(row.expires_at),
    )
