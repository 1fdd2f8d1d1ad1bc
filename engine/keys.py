"""API keys (stored hashed, compared in constant time) and the per-key rate limit: who may call
the API and how often, decided by the composition root's services, used by the API and the portal."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

KEY_FILE: Final = "api-keys.json"


def hash_key(key: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is as good as a slow hash here.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class KeyStore:
    """The hashes of the keys that may call the API."""

    def __init__(self, hashes: Iterable[str]) -> None:
        self.hashes = tuple(hashes)

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> KeyStore:
        return cls(hash_key(key) for key in keys)

    @classmethod
    def load_or_generate(cls, data_dir: Path) -> tuple[KeyStore, str | None]:
        """The stored key hashes; on first start a new key, returned once in plain text."""
        path = data_dir / KEY_FILE
        if path.exists():
            return cls(json.loads(path.read_text(encoding="utf-8"))["sha256"]), None
        key = "dbv_" + secrets.token_urlsafe(32)
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"sha256": [hash_key(key)]}, handle)
        os.replace(partial, path)
        return cls([hash_key(key)]), key

    def hash_of(self, key_id: str) -> str | None:
        """The stored hash a key id names (its first 12 characters follow `key-`)."""
        prefix = key_id.removeprefix("key-")
        found = [stored for stored in self.hashes if len(prefix) == 12 and stored.startswith(prefix)]
        return found[0] if len(found) == 1 else None

    def identify(self, presented: str) -> str | None:
        """The caller's key id (a prefix of the key's hash), or None for an unknown key.

        Every stored hash is compared, in constant time, whatever matched before.
        """
        digest = hash_key(presented)
        found = None
        for stored in self.hashes:
            if hmac.compare_digest(digest, stored):
                found = stored
        return None if found is None else f"key-{found[:12]}"


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per key: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}
        self.lock = threading.Lock()

    def take(self, key_id: str) -> int | None:
        """None when the call may go ahead; else the seconds to wait (for Retry-After)."""
        with self.lock:
            now = self.clock()
            bucket = self.buckets.setdefault(key_id, _Bucket(self.capacity, now))
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return max(1, math.ceil((1 - bucket.tokens) / self.rate))
