"""github-app/app-manifest.json: least privilege, and exactly the events dbvend handles."""

from __future__ import annotations

import json

from engine.webhooks import HANDLERS
from tests.support.paths import ROOT

APP = ROOT / "github-app"


def test_the_manifest_asks_for_least_privilege_and_the_handled_events() -> None:
    manifest = json.loads((APP / "app-manifest.json").read_text())
    assert manifest["default_permissions"] == {
        "actions": "write",
        "checks": "write",
        "contents": "write",
        "issues": "write",
        "members": "read",  # organisation: who signs in to the portal, their teams; approver_teams
        "metadata": "read",
        "pull_requests": "write",
    }
    # GitHub sends ping, installation and installation_repositories to every App unasked: they
    # cannot be subscribed to (and the manifest refuses them).
    unasked = {"ping", "installation", "installation_repositories"}
    assert set(manifest["default_events"]) == set(HANDLERS) - unasked
    assert "push" in manifest["default_events"]  # the claims index follows the default branch (issue 24)
    assert manifest["hook_attributes"]["url"].endswith("/github/webhook")
    assert manifest["public"] is False
    # Sign in with GitHub (engine/portal/oauth.py): where GitHub sends people back.
    assert manifest["callback_urls"] == ["https://dbvend.example.com/auth/github/callback"]


def test_the_readme_explains_every_permission() -> None:
    readme = (APP / "README.md").read_text()
    manifest = json.loads((APP / "app-manifest.json").read_text())
    for permission in manifest["default_permissions"]:
        assert f"| {permission} |" in readme
