"""`installation` and `installation_repositories`: the App's own installation, kept in the ledger.

Every such delivery is logged. When the App's installation is deleted or suspended, or the
configured repository is taken out of it, dbvend can no longer act on GitHub: the ledger says so
(app_state `installation`) and GET /healthz reports the service as degraded until the App is
installed (or the repository added) again.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from engine.store.records import now_text
from engine.webhooks.context import WebhookContext

log = logging.getLogger("dbvend.webhook")
STATE_KEY: Final = "installation"
# installation.<action> -> the installation's state afterwards (other actions change nothing).
INSTALLATION_STATES: Final = {
    "created": "active",
    "unsuspend": "active",
    "new_permissions_accepted": "active",
    "deleted": "removed",
    "suspend": "suspended",
}


def installation(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    action = str(payload.get("action") or "")
    log.info("installation %s", action, extra=_extra(payload, context))
    state = INSTALLATION_STATES.get(action)
    if state is None:
        return {"detail": f"installation.{action}: noted"}
    return _record(context, payload, state, f"installation {action}")


def installation_repositories(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    action = str(payload.get("action") or "")
    log.info("installation_repositories %s", action, extra=_extra(payload, context))
    key = "repositories_removed" if action == "removed" else "repositories_added"
    named = {str(r.get("full_name") or "").casefold() for r in payload.get(key) or [] if isinstance(r, dict)}
    if context.identity.full_name.casefold() not in named:
        return {"detail": f"installation_repositories.{action}: not about {context.identity.full_name}"}
    state = "removed" if action == "removed" else "active"
    return _record(context, payload, state, f"{context.identity.full_name} {action}")


def _record(context: WebhookContext, payload: dict[str, Any], state: str, what: str) -> dict[str, Any]:
    sender = str((payload.get("sender") or {}).get("login") or "unknown")
    value = {"state": state, "what": what, "by": sender, "at": now_text()}
    context.services.ledger.set_app_state(STATE_KEY, json.dumps(value, sort_keys=True))
    if state != "active":
        log.error(
            "the GitHub App can no longer act on %s: %s by %s", context.identity.full_name, what, sender
        )
    return {"detail": f"installation {state}"}


def _extra(payload: dict[str, Any], context: WebhookContext) -> dict[str, Any]:
    found = payload.get("installation") or {}
    return {
        "delivery": context.delivery,
        "installation": found.get("id") if isinstance(found, dict) else None,
    }


def installation_problem(state_text: str | None) -> str | None:
    """What /healthz says of the recorded installation state: None while the App is installed."""
    if not state_text:
        return None
    state = json.loads(state_text)
    if state.get("state") == "active":
        return None
    what = f"{state.get('what')} by {state.get('by')} at {state.get('at')}"
    return f"the GitHub App's installation is {state.get('state')} ({what})"
