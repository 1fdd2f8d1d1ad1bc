"""GitHub's own published shapes, pinned by tests/octokit/package-lock.json: webhook examples and schemas.

`npm ci --prefix tests/octokit` (.ci/run does it) installs them under tests/octokit/node_modules. Without
them a test that needs them is skipped on a developer's machine and fails under CI=true: CI never skips
the comparison with GitHub's shapes silently.

    require_octokit()
    payload = example("issues", "opened")  # a deep copy: change it freely
    pull = rest_example("pull-request")  # GitHub's REST example (OpenAPI components/examples)
"""

from __future__ import annotations

import copy
import functools
import json
import os
from typing import Any

import pytest

from tests.support.paths import ROOT

OCTOKIT = ROOT / "tests" / "octokit" / "node_modules" / "@octokit"
GRAPHQL_SCHEMA = OCTOKIT / "graphql-schema" / "schema.graphql"
WEBHOOK_EXAMPLES = OCTOKIT / "webhooks-examples" / "api.github.com" / "index.json"
REST_OPENAPI = OCTOKIT / "openapi" / "generated" / "api.github.com.json"
INSTALL_HINT = "npm ci --prefix tests/octokit --no-audit --no-fund"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_octokit() -> None:
    """Fail under CI, skip elsewhere, when GitHub's published shapes are not installed."""
    missing = [path for path in (GRAPHQL_SCHEMA, WEBHOOK_EXAMPLES, REST_OPENAPI) if not path.is_file()]
    if not missing:
        return
    names = ", ".join(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path) for path in missing)
    message = f"GitHub's published shapes are not installed ({names} missing): {INSTALL_HINT}"
    if in_ci():
        pytest.fail(f"CI must compare dbvend with GitHub's shapes; {message}", pytrace=False)
    pytest.skip(message)


@functools.cache
def _webhook_examples() -> dict[str, list[dict[str, Any]]]:
    require_octokit()
    events: list[dict[str, Any]] = json.loads(WEBHOOK_EXAMPLES.read_text(encoding="utf-8"))
    return {event["name"]: event["examples"] for event in events}


def webhook_examples() -> dict[str, list[dict[str, Any]]]:
    """Event name -> GitHub's example deliveries of it (api.github.com), read once.

    The lists are shared by every caller: read them, and take a copy to change with example().
    """
    return _webhook_examples()


def example(event: str, action: str | None = None, index: int = 0) -> dict[str, Any]:
    """A deep copy of the index-th example of `event` whose "action" is `action` (None: no action)."""
    examples = webhook_examples().get(event)
    if examples is None:
        raise KeyError(f"GitHub publishes no example of the {event!r} event")
    matching = [payload for payload in examples if payload.get("action") == action]
    if not -len(matching) <= index < len(matching):
        actions = sorted({str(payload.get("action")) for payload in examples})
        raise IndexError(
            f"{event!r} has {len(matching)} example(s) with action {action!r}, no index {index}; "
            f"its examples' actions: {', '.join(actions)}"
        )
    return copy.deepcopy(matching[index])


@functools.cache
def _rest_examples() -> dict[str, Any]:
    require_octokit()
    described: dict[str, Any] = json.loads(REST_OPENAPI.read_text(encoding="utf-8"))
    return dict(described["components"]["examples"])


def rest_example(name: str) -> Any:
    """A deep copy of GitHub's REST example `name` (its OpenAPI description's components/examples),
    as GitHub's documentation shows it for the endpoint that answers it."""
    examples = _rest_examples()
    if name not in examples:
        raise KeyError(f"GitHub's REST description has no example named {name!r}")
    return copy.deepcopy(examples[name]["value"])
