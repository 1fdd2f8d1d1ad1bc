"""The checks of dbvend.yaml's values: a reader whose errors name each key and its line; the value parsers."""

from __future__ import annotations

import ipaddress
import re
import socket
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
ENV_VAR: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Cloud metadata services, by name and by address (AWS IMDS, its IPv6 twin, GCP, Azure, Alibaba):
# a webhook there would hand the instance's credentials to whoever can read the notification.
METADATA_HOSTS: Final = frozenset(
    {"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}
)
METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)


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


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not be sent to this address (None: it may). Loopback and private
    addresses are allowed (a platform's own chat server); link-local, metadata and unspecified are not."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_unspecified or address.is_multicast:
        return f"{address} is not a host's address"
    return None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally, in any form the resolver would read it (127.1, 0xa9fea9fe)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # inet_aton takes the old short, octal, hex and decimal forms; it does not look anything up
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def webhook_url_problem(value: Any) -> str | None:
    """Why a value is no notification target (None: it is one): an http(s) URL with a host that is
    neither a metadata service nor a link-local or unspecified address. A name that is no literal
    address is checked again when sending, on the address it resolves to."""
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.isascii() or not value.isprintable() or " " in value:
        return "must be an http(s) URL (ASCII, no spaces)"
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError on a port that is no number or out of range
    except ValueError:
        return "must be an http(s) URL (its host or port does not parse)"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not host or len(value) > 2000:
        return "must be an http(s) URL with a host (at most 2000 characters)"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user or password (a receiver checks the signature: secret_env)"
    if host in METADATA_HOSTS:
        return f"must not point at {host}: a cloud metadata service"
    address = _literal_address(host)
    why = None if address is None else refused_address(address)
    return None if why is None else f"must not point at {host}: {why}"
