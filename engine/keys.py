"""API keys (stored hashed, compared in constant time) and the per-key rate limit: who may call
the API and how often, decided by the composition root's services, used by the API and the portal."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from engine.errors import DbvendError
from engine.identity import KEY_ROLES, Actor, api_key

KEY_FILE: Final = "api-keys.json"


def hash_key(key: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is as good as a slow hash here.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class KeyEntry:
    """One API key as configured: its name (the ledger records `key:<name>`), role and hash."""

    name: str
    role: str
    digest: str

    @property
    def key_id(self) -> str:
        """The id a portal session names it by (a prefix of its hash; never the key)."""
        return f"key-{self.digest[:12]}"

    def actor(self, door: str = "api") -> Actor:
        return api_key(self.name, self.role, door)


def parse_entries(items: Iterable[str], what: str, hashed: bool) -> list[KeyEntry]:
    """`key` or `name:role:key` items (with `hashed`, the key's SHA-256 instead of the key); an
    unnamed key is an admin named by its hash's first 12 characters, as before keys had names.
    Errors name the item by position only: a key never appears in a message."""
    entries = []
    for position, item in enumerate(items, start=1):
        parts = item.split(":")
        if len(parts) not in (1, 3):
            raise DbvendError(f"{what} item {position}: write it as KEY or NAME:ROLE:KEY")
        secret = parts[-1].strip()
        digest = secret.lower() if hashed else hash_key(secret)
        if hashed and not _DIGEST.fullmatch(digest):
            raise DbvendError(f"{what} item {position}: not a SHA-256 hex digest")
        name, role = (parts[0].strip(), parts[1].strip()) if len(parts) == 3 else (digest[:12], "admin")
        entries.append(_entry(name, role, digest, f"{what} item {position}"))
    return entries


def _entry(name: str, role: str, digest: str, where: str) -> KeyEntry:
    if not _NAME.fullmatch(name):
        raise DbvendError(f"{where}: a name is 1-40 of a-z 0-9 . _ - (a letter or digit first)")
    if role not in KEY_ROLES:
        raise DbvendError(f"{where}: the role must be one of {', '.join(KEY_ROLES)}, not {role[:40]!r}")
    return KeyEntry(name, role, digest)


def read_key_file(path: Path) -> list[KeyEntry]:
    """A file of named keys: {"keys": [{"name", "role", "sha256"}]} (or the list alone); the
    generated key file's older {"sha256": [...]} is read as unnamed admin keys."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DbvendError(f"cannot read the API key file {path}: {exc}") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("sha256"), list):
        return parse_entries([str(digest) for digest in loaded["sha256"]], str(path), hashed=True)
    items = loaded.get("keys") if isinstance(loaded, dict) else loaded
    if not isinstance(items, list):
        raise DbvendError(f'{path}: expected {{"keys": [{{"name", "role", "sha256"}}, ...]}}')
    entries = []
    for position, item in enumerate(items, start=1):
        where = f"{path} key {position}"
        if not isinstance(item, dict) or set(item) != {"name", "role", "sha256"}:
            raise DbvendError(f"{where}: must have exactly name, role and sha256")
        digest = str(item["sha256"]).lower()
        if not _DIGEST.fullmatch(digest):
            raise DbvendError(f"{where}: sha256 is not a SHA-256 hex digest")
        entries.append(_entry(str(item["name"]), str(item["role"]), digest, where))
    return entries


class KeyStore:
    """The keys that may call the API: their names, roles and hashes (never the keys)."""

    def __init__(self, entries: Iterable[KeyEntry | str]) -> None:
        # Plain digests are unnamed admin keys (tests and older configurations build it so).
        self.entries = tuple(
            entry if isinstance(entry, KeyEntry) else KeyEntry(entry[:12], "admin", entry)
            for entry in entries
        )
        names = [entry.name for entry in self.entries]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise DbvendError(f"API key names must be unique: {', '.join(repeated)} named twice")
        self.hashes = tuple(entry.digest for entry in self.entries)

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> KeyStore:
        return cls(parse_entries(keys, "DBVEND_API_KEYS", hashed=False))

    @classmethod
    def load_or_generate(cls, data_dir: Path) -> tuple[KeyStore, str | None]:
        """The stored keys; on first start a new admin key, returned once in plain text."""
        path = data_dir / KEY_FILE
        if path.exists():
            return cls(read_key_file(path)), None
        key = "dbv_" + secrets.token_urlsafe(32)
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        entry = KeyEntry("admin", "admin", hash_key(key))
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"keys": [{"name": entry.name, "role": entry.role, "sha256": entry.digest}]}, handle)
        os.replace(partial, path)
        return cls([entry]), key

    def by_id(self, key_id: str) -> KeyEntry | None:
        """The key a key id names (`key-` and its hash's first 12 characters)."""
        prefix = key_id.removeprefix("key-")
        found = [entry for entry in self.entries if len(prefix) == 12 and entry.digest.startswith(prefix)]
        return found[0] if len(found) == 1 else None

    def identify(self, presented: str) -> KeyEntry | None:
        """The caller's key, or None for an unknown key.

        Every stored hash is compared, in constant time, whatever matched before.
        """
        digest = hash_key(presented)
        found = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        return found


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
