"""GET /v1/audit over 10,000 audit rows against the same pages over 100: paging does not grow with rows.

Two SQLite ledgers, one with --rows events and one with 100 (the baseline), each behind the app
in-process (FastAPI's TestClient, the API key checked as for any caller). Half the events are of
dev/orders and half by github:alice, so every page below is a full page of 50 in both. Timed,
--rounds times each, the two ledgers in turn so a slow spell of the machine falls on both: the
first page; a middle page (by cursor); a page filtered by database, by actor, and by `since` (the
newest half). Printed: p50 and p95 per page and ledger, the ratio of the p50s, and the line for
all pages together.

    python bench/bench_audit.py [--rows 10000] [--rounds 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.app import create_app
from engine.audit import AuditEvent, AuditQuery
from engine.services import Services, build_services
from engine.settings import Settings

HEADERS = {"x-api-key": "bench-key"}
BASELINE_ROWS = 100
PAGE = 50


def filled(data: Path, rows: int) -> Services:
    """Services on a fresh ledger holding `rows` events."""
    services, _ = build_services(Settings(data=data, api_keys="bench-key", rate_limit=10**9))
    with services.ledger.transaction() as connection:
        for n in range(rows):
            services.ledger.audit(
                AuditEvent(
                    actor="github:alice" if n % 2 else f"key:k{n % 13}",
                    door="api" if n % 3 else "portal",
                    action=("request", "change_open", "merge", "extend")[n % 4],
                    outcome="refused" if n % 11 == 0 else "ok",
                    environment="dev",
                    identifier="orders" if n % 2 == 0 else f"db{n % 97}",
                    request_id=f"r-{n}",
                    detail=f"event {n}: " + "x" * 60,
                ),
                connection,
            )
    return services


def pages(services: Services, rows: int) -> dict[str, str]:
    """The address of each page timed, in a ledger of `rows` events."""
    newest, _ = services.ledger.audit_page(AuditQuery(), rows, None)
    half = newest[rows // 2 - 1]  # the oldest of the newest half
    return {
        "first page": "/v1/audit",
        "middle page (cursor)": f"/v1/audit?cursor={newest[rows // 2 - PAGE // 2].id}",
        "database=dev/orders": "/v1/audit?database=dev/orders",
        "actor=github:alice": "/v1/audit?actor=github:alice",
        "since (newest half)": f"/v1/audit?since={half.at}",
    }


def percentile(values: list[float], fraction: float) -> float:
    return sorted(values)[max(0, round(fraction * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # starlette deprecates the httpx test client; irrelevant here
    from fastapi.testclient import TestClient

    sizes = (BASELINE_ROWS, args.rows)
    timings: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        built = {size: filled(Path(scratch) / f"ledger{size}", size) for size in sizes}
        filling = time.perf_counter() - start
        clients: dict[int, Any] = {size: TestClient(create_app(built[size])) for size in sizes}
        addresses = {size: pages(built[size], size) for size in sizes}
        for size in sizes:  # each page once, untimed: it is a full page, and the app is warm
            for address in addresses[size].values():
                answer = clients[size].get(address, headers=HEADERS)
                assert answer.status_code == 200 and len(answer.json()["items"]) == PAGE, (
                    address,
                    answer.text,
                )
        for _ in range(args.rounds):
            for size in sizes:
                for name, address in addresses[size].items():
                    began = time.perf_counter()
                    clients[size].get(address, headers=HEADERS)
                    timings.setdefault((name, size), []).append((time.perf_counter() - began) * 1000)
        for size in sizes:
            clients[size].close()
            built[size].ledger.engine.dispose()
    print(
        f"GET /v1/audit, {args.rounds} rounds per page; {sum(sizes):,} events written in {filling:.1f} s; ms"
    )
    print(
        f"{'page':<22} {'100 p50':>8} {'100 p95':>8}"
        f" {f'{args.rows:,} p50':>11} {f'{args.rows:,} p95':>11} {'ratio':>6}"
    )
    for name in addresses[args.rows]:
        small, large = timings[(name, BASELINE_ROWS)], timings[(name, args.rows)]
        ratio = statistics.median(large) / statistics.median(small)
        print(
            f"{name:<22} {statistics.median(small):>8.2f} {percentile(small, 0.95):>8.2f}"
            f" {statistics.median(large):>11.2f} {percentile(large, 0.95):>11.2f} {ratio:>5.2f}x"
        )
    small = [t for (_, size), values in timings.items() if size == BASELINE_ROWS for t in values]
    large = [t for (_, size), values in timings.items() if size == args.rows for t in values]
    print(
        f"page over {args.rows:,} rows: {statistics.median(large):.2f} ms p50"
        f" ({percentile(large, 0.95):.2f} ms p95),"
        f" {statistics.median(large) / statistics.median(small):.2f}x of {BASELINE_ROWS} rows"
    )


if __name__ == "__main__":
    main()
