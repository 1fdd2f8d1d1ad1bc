"""What the CKV_DBV checks read: the environments' facts from dbvend.yaml and a resource's own values.

The gate puts the facts in DBVEND_POLICY_CONTEXT before every scan, so they are read at scan time:

    {"environments": {"dev": {"instance_classes": ["db.t3.micro"], "max_acu": 4.0, "production": false}}}

Checkov hands a resource's attributes over as one-element lists (`{"multi_az": [True]}`), nested
blocks as lists of dicts, and leaves unresolved expressions as strings (`"${var.x}"`).
Checkov loads this file as a top-level module `_context` (the folder is put on sys.path), so the
checks import it as `from _context import ...`. It keeps no state: checkov may load it twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CONTEXT_VARIABLE = "DBVEND_POLICY_CONTEXT"
PRODUCTION_NAMES = frozenset({"prod", "production"})  # production without a context


@dataclass(frozen=True)
class EnvironmentFacts:
    instance_classes: frozenset[str]
    max_acu: float | None
    production: bool


@dataclass(frozen=True)
class PolicyContext:
    """The environments dbvend.yaml defines; `environments is None` when the gate gave none."""

    environments: Mapping[str, EnvironmentFacts] | None

    @property
    def present(self) -> bool:
        return self.environments is not None

    def facts(self, environment: str | None) -> EnvironmentFacts | None:
        """The environment's facts; None when there is no context or it does not define the environment."""
        if self.environments is None or environment is None:
            return None
        return self.environments.get(environment)

    def production_rules_apply(self, environment: str | None) -> bool:
        """Strict: an environment that is missing or unknown counts as production."""
        if self.environments is None:
            return environment is None or environment in PRODUCTION_NAMES
        facts = self.facts(environment)
        return facts is None or facts.production

    def known_production(self, environment: str | None) -> bool:
        """Only an environment known to be production (for rules that production is exempt from)."""
        if self.environments is None:
            return environment in PRODUCTION_NAMES
        facts = self.facts(environment)
        return facts is not None and facts.production


def current_context() -> PolicyContext:
    return parse_context(os.environ.get(CONTEXT_VARIABLE, ""))


@lru_cache(maxsize=8)
def parse_context(text: str) -> PolicyContext:
    """ValueError on a malformed context: the gate wrote it, and a scan must not guess around it."""
    if not text.strip():
        return PolicyContext(None)
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{CONTEXT_VARIABLE} must be a JSON object")
    environments = raw.get("environments")
    if environments is None:
        return PolicyContext(None)
    if not isinstance(environments, dict):
        raise ValueError(f"{CONTEXT_VARIABLE}: environments must be an object")
    return PolicyContext({name: _facts(name, spec) for name, spec in environments.items()})


def _facts(name: str, spec: Any) -> EnvironmentFacts:
    if not isinstance(spec, dict):
        raise ValueError(f"{CONTEXT_VARIABLE}: environments.{name} must be an object")
    max_acu = as_number(spec.get("max_acu"))
    production = as_bool(spec.get("production"))
    return EnvironmentFacts(
        instance_classes=frozenset(str(c) for c in spec.get("instance_classes") or ()),
        max_acu=max_acu,
        production=name in PRODUCTION_NAMES if production is None else production,
    )


# -- a resource's values -------------------------------------------------------------------


def value_of(conf: Mapping[str, Any], key: str) -> Any:
    """The attribute's value, unwrapped from checkov's one-element list; None when absent."""
    value = conf.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def block_of(conf: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """The first nested block of that name (checkov: a list of dicts), or None."""
    block = value_of(conf, key)
    return block if isinstance(block, Mapping) else None


def as_bool(value: Any) -> bool | None:
    """True or False, also from "true"/"false"; None for anything else (absent, an expression)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def is_literal(value: Any) -> bool:
    """A non-empty string that is not, or does not contain, an unresolved `${...}` expression."""
    return isinstance(value, str) and bool(value.strip()) and "${" not in value


def tags_of(conf: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The resource's tags; None when absent or not a map (e.g. an unresolved merge())."""
    tags = value_of(conf, "tags")
    return tags if isinstance(tags, Mapping) else None


def environment_of(conf: Mapping[str, Any]) -> str | None:
    """The `environment` tag when it is a plain value; None when missing or an expression."""
    environment = (tags_of(conf) or {}).get("environment")
    return environment.strip() if is_literal(environment) else None
