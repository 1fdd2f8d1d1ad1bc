"""`push` to the default branch: the claims index follows it (issue 24).

The commits' added, modified and removed paths say which database roots' request.json changed;
only those are read, at the push's `after` commit (one GraphQL query), and a root whose file is
gone leaves the index. A push the index cannot follow that way (one missed before it, a forced
push, a list cut at GitHub's limit) reconciles the index instead: the tree's ids, then the blobs
that changed. Pushes to other branches and tags change nothing.
"""

from __future__ import annotations

from typing import Any

from engine.claim_index import index_push, push_changes
from engine.webhooks.context import WebhookContext


def push(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    changes = push_changes(payload, context.identity.default_branch)
    if changes is None:
        return {"detail": f"push to {payload.get('ref')}: not the default branch; nothing to do"}
    if context.services.settings.gitops != "github":  # the local repository is indexed from git
        return {"detail": "push: the local repository's index is reconciled from git"}
    done = index_push(context.services.ledger, context.services.backend, changes)
    return {"detail": f"push: {done}", "after": changes.after, "roots": changes.roots}
