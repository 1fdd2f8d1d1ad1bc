"""The checks of dbvend.yaml's values: a reader whose errors name each key and its line; the value parsers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, TypeVar

from engine.errors import CatalogError
from engine.spec import acu_in_steps, parse_ttl

KeyPath = tuple[str | int, ...]
T = TypeVar("T")
BOOL_RULE: Final = "must be true or false"
_TAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/=+@-]{0,127}")
_TAG_VALUE = re.compile(r"[A-Za-z0-9 _.:/=+@-]{0,256}")

# The patterns dbvend.yaml's values must match. AWS's identifiers:
REGION: Final = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]")
AVAILABILITY_ZONE: Final = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9][a-z]")
ARN: Final = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:[A-Za-z0-9_./:-]+")
KMS_KEY: Final = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,64}")
SECURITY_GROUP: Final = re.compile(r"sg-[0-9a-f]{8,17}")
SUBNET: Final = re.compile(r"subnet-[0-9a-f]{8,17}")
BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
KEY_PREFIX: Final = re.compile(r"[A-Za-z0-9._/-]{1,200}")
INSTANCE_CLASS: Final = re.compile(r"db\.[a-z0-9]+\.[a-z0-9]+")
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")  # parameter groups, option groups, roles
PARAMETER: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")
_DAY_TIME: Final = r"(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):([0-5][0-9])"
MAINTENANCE_WINDOW: Final = re.compile(f"{_DAY_TIME}-{_DAY_TIME}")
_TIME: Final = r"([01][0-9]|2[0-3]):([0-5][0-9])"
BACKUP_WINDOW: Final = re.compile(f"{_TIME}-{_TIME}")
DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK_MINUTES: Final = 7 * 24 * 60
# checkov's and GitHub's names:
CHECK_ID: Final = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")
CHECK_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/()-]{0,99}")
WORKFLOW: Final = re.compile(r"[A-Za-z0-9._-]{1,100}\.ya?ml")
LOGIN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
LABEL: Final = re.compile(r"[^,\s][^,]{0,49}")


def dotted(path: KeyPath) -> str:
    """A key's path as an error names it: environments.dev.network.subnet_ids[0]."""
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


class KeyReader:
    """Reads raw YAML values; every error names the key and the line it stands on (or its parent's)."""

    def __init__(self, lines: dict[KeyPath, int], source: str) -> None:
        self.lines, self.source = lines, source

    def error(self, path: KeyPath, rule: str) -> CatalogError:
        line = None
        for i in range(len(path), -1, -1):
            if path[:i] in self.lines:
                line = self.lines[path[:i]]
                break
        return CatalogError(dotted(path), rule, line, self.source)

    def mapping(self, value: Any, path: KeyPath, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.error(path, "must be a mapping of keys to values")
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.error((*path, key), f"is not a known key (known: {', '.join(allowed)})")
        return value

    def get(
        self,
        raw: dict[str, Any],
        path: KeyPath,
        key: str,
        kind: Callable[[Any], T],
        rule: str,
        default: Any = ...,
    ) -> T:
        if key not in raw or (raw[key] is None and default is not ...):
            if default is ...:
                raise self.error((*path, key), "is required")
            return default  # type: ignore[no-any-return]
        try:
            return kind(raw[key])
        except (TypeError, ValueError):
            raise self.error((*path, key), rule) from None

    def section(self, value: Any, path: KeyPath, allowed: tuple[str, ...] | None) -> Section:
        """The mapping at path (none: empty), its keys among allowed (None: any)."""
        return Section(self, self.mapping(value, path, allowed), path)


@dataclass(frozen=True)
class Section:
    """One mapping of dbvend.yaml: its keys read, and its errors named, under its path."""

    reader: KeyReader
    raw: dict[str, Any]
    path: KeyPath

    def at(self, *keys: str | int) -> KeyPath:
        return (*self.path, *keys)

    def error(self, key: str | int | KeyPath, rule: str) -> CatalogError:
        return self.reader.error(self.at(*key) if isinstance(key, tuple) else self.at(key), rule)

    def get(self, key: str, kind: Callable[[Any], T], rule: str, default: Any = ...) -> T:
        """The value of key as kind reads it; default when it is unset or null (none: required)."""
        return self.reader.get(self.raw, self.path, key, kind, rule, default)

    def flag(self, key: str, default: bool) -> bool:
        return self.get(key, boolean, BOOL_RULE, default)

    def section(self, key: str, allowed: tuple[str, ...] | None) -> Section:
        return self.reader.section(self.raw.get(key), self.at(key), allowed)

    def tags(self, key: str) -> dict[str, str]:
        """The AWS tags under key: each key and value within AWS's rules, none of AWS's own (aws:)."""
        tags = self.section(key, None)
        for name, value in tags.raw.items():
            if not _TAG_KEY.fullmatch(name) or name.lower().startswith("aws:"):
                raise tags.error(name, "must be a tag key: letters, digits, spaces, _ . : / = + @ -")
            if not isinstance(value, str) or not _TAG_VALUE.fullmatch(value):
                raise tags.error(name, "must be a tag value (a string; quote numbers)")
        return dict(tags.raw)


# -- value parsers: the value, or ValueError ---------------------------------------------------


def matching(pattern: re.Pattern[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.isascii() or not pattern.fullmatch(value):
            raise ValueError(value)
        return value

    return check


def list_of(pattern: re.Pattern[str] | None, empty_ok: bool = False) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or (not value and not empty_ok):
            raise ValueError(value)
        if pattern is not None:
            return [matching(pattern)(item) for item in value]
        if not all(isinstance(item, str) for item in value):
            raise ValueError(value)
        return value

    return check


def one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(value)
        return str(value)

    return check


def list_of_mappings(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(value)
    return value


def text_of(low: int, high: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not low <= len(value) <= high or not value.isprintable():
            raise ValueError(value)
        return value

    return check


def sentence(value: Any) -> str:
    """A reason: 10 to 500 characters, its white space folded."""
    if not isinstance(value, str) or len(value.strip()) < 10 or len(value) > 500:
        raise ValueError(value)
    return " ".join(value.split())


def iso_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(value)
    return date.fromisoformat(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def int_between(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(value)
        return value

    return check


def one_of_ints(choices: tuple[int, ...]) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or value not in choices:
            raise ValueError(value)
        return int(value)

    return check


def acu(value: Any) -> float:
    """An Aurora capacity limit: 0 to 256 ACU in steps of 0.5."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not acu_in_steps(value, 0):
        raise ValueError(value)
    return float(value)


def factor(value: Any) -> float:
    """Storage autoscaling's ceiling: 1 (none) or 1.1 to 100 times the allocated storage."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    if value != 1 and not 1.1 <= value <= 100:
        raise ValueError(value)
    return float(value)


def time_to_live(value: Any) -> timedelta | None:
    """A TTL such as 12h or 7d; None for none."""
    if not isinstance(value, str):
        raise ValueError(value)
    return parse_ttl(value)
