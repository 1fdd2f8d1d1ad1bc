"""GitHub's webhook signature scheme, which dbvend both checks (GitHub's deliveries) and makes (its own
notifications): `sha256=` and the hex HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, body: bytes) -> str:
    """The header value for `body` signed with `secret`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is `body`'s signature with `secret`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(signature(secret, body), header)
