"""Record a request as applied with its connection details, as `dbvend ci apply` does (engine/cli/ci.py,
_in_ledger): for tests that drive a real `dbvend serve` and need an applied database without terraform.

    DBVEND_DATA=<serve's data dir> python tests/support/record_applied.py <request id> '<details JSON>'

The ledger is the one the serve's settings name (DATABASE_URL, else DBVEND_DATA's SQLite file). Prints
the request's status and connection details as JSON; exits 1 when the request cannot move to applied.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from engine.roots import Root
from engine.settings import Settings
from engine.store.ledger import Ledger

USAGE = "usage: record_applied.py REQUEST_ID DETAILS_JSON"


def record_applied(ledger: Ledger, request_id: str, details: Mapping[str, Any], detail: str) -> None:
    """The details, then the move to applied, in one transaction: the details are kept only if it moves."""
    with ledger.transaction() as connection:
        ledger.record_connection(request_id, details, connection=connection)
        if not ledger.transition(request_id, "applied", detail, connection=connection):
            raise RuntimeError(f"request {request_id} cannot move to applied")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    request_id, details = argv[0], json.loads(argv[1])
    ledger = Ledger.connect(Settings().ledger_url)
    try:
        record = ledger.get(request_id)
        if record is None:
            print(f"no request {request_id} in the ledger", file=sys.stderr)
            return 1
        root = Root(record.environment, record.identifier).path
        detail = f"dbvend ci apply: {root}: applied: 4 to add, 0 to change, 0 to destroy"
        try:
            record_applied(ledger, request_id, details, detail)
        except RuntimeError as exc:
            print(f"{exc} (it is {record.status})", file=sys.stderr)
            return 1
        after = ledger.get(request_id) or record
        print(json.dumps({"status": after.status, "connection": after.connection}))
        return 0
    finally:
        ledger.engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
