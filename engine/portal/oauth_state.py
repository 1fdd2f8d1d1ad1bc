"""The OAuth `state` of signing in with GitHub: made, signed and checked here, pure (no I/O).

A state is `<nonce>.<expires>.<signature>`. The signature is an HMAC keyed with a key derived from
the App's client secret, so every instance agrees without a secret of its own; the nonce also goes
into a cookie of the browser that started (a state is bound to it) and, hashed, into the ledger,
whose row the callback deletes (a state counts once). Each refusal is a SignInRefused saying what
to do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from engine.errors import START_AGAIN, SignInRefused
from engine.keys import hash_key

LIFETIME: Final = 600  # seconds between leaving for GitHub and coming back
COOKIE: Final = "dbvend_oauth"  # the browser's half: the nonce
COOKIE_PATH: Final = "/auth/github"
_STATE: Final = re.compile(
    r"(?P<nonce>[A-Za-z0-9_-]{32})\.(?P<expires>[0-9]{1,12})\.(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class NewState:
    """A state to send to GitHub, and the nonce the browser's cookie and the ledger keep."""

    nonce: str
    expires: int
    state: str

    @property
    def nonce_hash(self) -> str:
        return nonce_hash(self.nonce)


def state_key(client_secret: str) -> bytes:
    """The signing key: derived from the client secret, never the secret itself."""
    return hmac.new(client_secret.encode(), b"dbvend-oauth-state", hashlib.sha256).digest()


def _signature(key: bytes, nonce: str, expires: int) -> str:
    return hmac.new(key, f"{nonce}.{expires}".encode(), hashlib.sha256).hexdigest()


def sign_state(client_secret: str, nonce: str, expires: int) -> str:
    return f"{nonce}.{expires}.{_signature(state_key(client_secret), nonce, expires)}"


def new_state(client_secret: str, now: float) -> NewState:
    """A fresh state, valid for LIFETIME seconds from `now`."""
    nonce, expires = secrets.token_urlsafe(24), int(now) + LIFETIME
    return NewState(nonce, expires, sign_state(client_secret, nonce, expires))


def nonce_hash(nonce: str) -> str:
    """How the ledger names a state: the SHA-256 of its nonce (the nonce stays in the browser)."""
    return hash_key(nonce)


def checked_nonce(client_secret: str, state: str | None, cookie: str | None, now: float) -> str:
    """The nonce of a state that came back to the callback, checked in order: present and
    well-formed, signed by us, not expired, and the nonce of this browser's cookie. The ledger's
    row (single use) is the caller's last check."""
    found = _STATE.fullmatch(state or "")
    if found is None:
        raise SignInRefused(f"This sign-in link is incomplete or damaged. {START_AGAIN}", 400)
    nonce, expires = found["nonce"], int(found["expires"])
    if not hmac.compare_digest(_signature(state_key(client_secret), nonce, expires), found["signature"]):
        raise SignInRefused(f"This sign-in link was not made here. {START_AGAIN}")
    if expires <= now:
        raise SignInRefused(f"This sign-in took longer than {LIFETIME // 60} minutes. {START_AGAIN}")
    presented = (cookie or "").encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(nonce.encode(), presented):
        raise SignInRefused(
            f"This sign-in was started in another browser or its cookie is gone. {START_AGAIN}"
        )
    return nonce
