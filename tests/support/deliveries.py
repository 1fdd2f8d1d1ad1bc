"""Webhook deliveries made from GitHub's own example payloads (@octokit/webhooks-examples), edited
for a scenario: moved to a repository (name, id, owner, every URL), an installation, a sender, an
issue, a pull request's head, a workflow run.

GitHub's examples come from several repositories (Codertocat/Hello-World, octo-org/octo-repo,
...). `moved()` rewrites every repository object and every URL of the example's repository, so
the edited payload keeps GitHub's shape exactly and only the scenario's facts change.

`deliver()` posts a delivery to dbvend's webhook endpoint as GitHub does, signed with the secret.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi.testclient import TestClient
from githubkit.webhooks import parse_obj

from tests.support import github_payloads as payloads
from tests.support.octokit import example

Payload = dict[str, Any]


def _repository_names(payload: Any, found: set[str]) -> set[str]:
    """Every full_name of a repository object anywhere in the payload."""
    if isinstance(payload, dict):
        name = payload.get("full_name")
        if isinstance(name, str) and "/" in name and "owner" in payload:
            found.add(name)
        for value in payload.values():
            _repository_names(value, found)
    elif isinstance(payload, list):
        for item in payload:
            _repository_names(item, found)
    return found


def _rewrite(value: Any, old: str, new: str, repo_id: int, owner: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return value.replace(f"/{old}", f"/{new}").replace(f"{old}.git", f"{new}.git")
    if isinstance(value, list):
        return [_rewrite(item, old, new, repo_id, owner) for item in value]
    if not isinstance(value, dict):
        return value
    rewritten = {key: _rewrite(item, old, new, repo_id, owner) for key, item in value.items()}
    if value.get("full_name") == old:
        rewritten.update(full_name=new, name=new.split("/")[1], id=repo_id)
        if isinstance(value.get("owner"), dict):
            rewritten["owner"] = {**rewritten["owner"], **owner}
    return rewritten


def moved(
    payload: Payload,
    full_name: str,
    repo_id: int,
    installation_id: int | None = None,
    source: str | None = None,
) -> Payload:
    """The payload about `full_name` (GitHub id `repo_id`) instead of the example's repository
    (`source`, default: the payload's `repository`); with `installation_id`, from that installation."""
    old = source or str(payload["repository"]["full_name"])
    owner_login = full_name.split("/")[0]
    owner = {"login": owner_login, "html_url": f"https://github.com/{owner_login}"}
    result: Payload = _rewrite(payload, old, full_name, repo_id, owner)
    if installation_id is not None:
        result["installation"] = {"id": installation_id, "node_id": f"MDIzOkludGVncmF0aW9u{installation_id}"}
    return result


def user(base: Mapping[str, Any], login: str) -> Payload:
    """A GitHub user object shaped like `base` (taken from the same example), for `login`."""
    made = copy.deepcopy(dict(base))
    old = str(made["login"])
    for key, value in made.items():
        if isinstance(value, str):
            made[key] = value.replace(f"/{old}", f"/{login}")
    made["login"] = login
    made["id"] = 10_000 + sum(map(ord, login))
    return made


def from_example(
    event: str,
    action: str | None,
    full_name: str,
    repo_id: int,
    *,
    index: int = 0,
    installation_id: int | None = None,
    sender: str | None = None,
) -> Payload:
    """GitHub's index-th example of `event`.`action`, moved to `full_name`, sent by `sender`."""
    payload = moved(example(event, action, index), full_name, repo_id, installation_id)
    if sender is not None:
        payload["sender"] = user(payload["sender"], sender)
    return payload


def issue_delivery(
    action: str,
    full_name: str,
    repo_id: int,
    number: int,
    body: str,
    *,
    author: str,
    sender: str | None = None,
    labels: tuple[str, ...] = ("database-request",),
    title: str = "[database] orders",
    installation_id: int | None = None,
) -> Payload:
    """An issues.<action> delivery from GitHub's example: issue `number` by `author` with the form
    `body` and `labels`, sent by `sender` (default: the author)."""
    payload = from_example("issues", action, full_name, repo_id, installation_id=installation_id)
    issue = payload["issue"]
    issue.update(number=number, title=title, body=body, state="open")
    issue["user"] = user(issue["user"], author)
    template = example("issues", "labeled")["label"]  # GitHub's label object
    issue["labels"] = [dict(template, name=name) for name in labels]
    if action == "labeled":
        payload["label"] = dict(template, name=labels[-1])
    payload["sender"] = user(payload["sender"], sender or author)
    return payload


# -- posting a delivery to POST /github/webhook, signed as GitHub signs it -----------------------

SECRET = "It's a Secret to Everybody"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    client: TestClient,
    event: str,
    payload: dict[str, Any],
    delivery: str | None = None,
    signature: str | None = "sign",
    validate: bool = True,
) -> Any:
    """POST one delivery as GitHub does; the payload must first pass githubkit's webhook models."""
    if validate:
        parse_obj(event, payload)
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc123",
    }
    if signature == "sign":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post("/github/webhook", content=body, headers=headers)


def issue_payload(
    action: str, body: str, number: int = 12, labels: tuple[str, ...] = ("database-request",)
) -> dict[str, Any]:
    """An `issues` delivery for a request made with the form (by alice, on acme/infra)."""
    return payloads.issues(action, number, "[database] orders", body, labels=labels)
