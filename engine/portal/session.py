"""Portal sessions: a cookie backed by an API key, or by a person's row in the ledger; and the
token that guards their forms.

An API key's cookie holds `<key id>.<expiry>.<signature>`; the signature is an HMAC keyed with the
stored hash of that API key, which only the server has (the key itself is never stored or sent
back). So no new secret is needed, every instance behind a load balancer agrees, and removing a key
ends its sessions.

A person signed in with GitHub gets a random token instead (no dot in it); the ledger keeps only its
SHA-256 with who they are (engine.store.sessions), so signing out ends the session everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

from engine.keys import KeyEntry, KeyStore, hash_key

COOKIE: Final = "dbvend_session"
LIFETIME: Final = 8 * 3600  # seconds: a working day
_EXPIRY: Final = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() also takes "²"
_PERSON_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def _signature(secret: str, key_id: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{key_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def sign_in(keys: KeyStore, presented: str, now: float) -> str | None:
    """A session token for a valid API key; None for any other."""
    entry = keys.identify(presented)
    return None if entry is None else session_token(entry, now)


def session_token(entry: KeyEntry, now: float) -> str:
    """The session token of a key already identified, valid for LIFETIME seconds from `now`."""
    expires = int(now) + LIFETIME
    return f"{entry.key_id}.{expires}.{_signature(entry.digest, entry.key_id, expires)}"


def session_key(keys: KeyStore, token: str | None, now: float) -> KeyEntry | None:
    """The key a session token stands for, while it is unexpired and the key still valid."""
    if not token or len(token) > 200:
        return None
    key_id, _, rest = token.partition(".")
    expires_text, _, signature = rest.partition(".")
    if not _EXPIRY.fullmatch(expires_text) or int(expires_text) <= now:
        return None
    entry = keys.by_id(key_id)
    if entry is None:
        return None
    expected = _signature(entry.digest, key_id, int(expires_text))
    return entry if same_text(expected, signature) else None


def is_key_session(token: str) -> bool:
    """An API key's session token (it has dots); any other is a person's."""
    return "." in token


def new_person_token() -> str:
    """A person's session token: random, only its hash is kept (person_token_hash)."""
    return secrets.token_urlsafe(32)


def person_token_hash(token: str) -> str | None:
    """How the ledger names a person's session; None for a token that cannot be one."""
    return hash_key(token) if _PERSON_TOKEN.fullmatch(token) else None


def form_token(token: str) -> str:
    """The token every portal form carries: derived from the session, which another site cannot
    read, so a form posted from elsewhere fails (SameSite=Strict already stops most)."""
    return hashlib.sha256(f"dbvend-form:{token}".encode()).hexdigest()[:32]


def form_token_ok(token: str, presented: str | None) -> bool:
    return presented is not None and same_text(form_token(token), presented)


def same_text(expected: str, presented: str) -> bool:
    """Constant-time equality of what we made (hex) and anything a client sent (any text)."""
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogatepass"))
