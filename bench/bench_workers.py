"""End-to-end throughput of `dbvend serve` with 1, 2 and 4 queue workers (`--workers`, DBVEND_WORKERS).

For each worker count a fresh `dbvend serve` (its own data dir and repository) is warmed with a few
requests, then N requests are posted by concurrent clients; timed from the first POST until every
one of them is change_open in the ledger (read from this process, so polling costs the server
nothing). Printed: seconds, requests/s, ms per request, and the ratio to the 1-worker run of the
same invocation. With --rounds R the worker counts are run R times, interleaved, and the fastest
run of each is printed (other load on the machine only ever slows a run down).

    python bench/bench_workers.py [--requests 200] [--workers 1,2,4] [--rounds 1] [--clients 8] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.server import API_KEY, ServeProcess

ENGINES = ("postgres", "mysql", "aurora-postgresql", "aurora-mysql")
ENVS = ("dev", "staging", "prod")
HEADERS = {"x-api-key": API_KEY}


def bodies(prefix: str, count: int) -> list[dict[str, str]]:
    return [
        {"database_name": f"{prefix}{n:04d}", "database_engine": ENGINES[n % 4], "environment": ENVS[n % 3]}
        for n in range(count)
    ]


async def post_all(url: str, items: list[dict[str, str]], clients: int) -> None:
    """POST every body (exits 1 on any answer but 202)."""
    pending = list(reversed(items))
    failures: list[str] = []
    async with httpx.AsyncClient(timeout=30) as http:

        async def client() -> None:
            while pending:
                answer = await http.post(f"{url}/provision-rds", json=pending.pop(), headers=HEADERS)
                if answer.status_code != 202:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

        await asyncio.gather(*(client() for _ in range(clients)))
    if failures:
        print(f"{len(failures)} answers were not 202, e.g. {failures[0]}")
        sys.exit(1)


def open_changes(ledger: Path) -> int:
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=30) as db:
        (count,) = db.execute("SELECT count(*) FROM requests WHERE status = 'change_open'").fetchone()
    return int(count)


def wait_for(ledger: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while open_changes(ledger) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {open_changes(ledger)} of {count} changes open after {timeout:g} s")
        time.sleep(0.05)


def run(workers: int, count: int, clients: int, scratch: Path) -> float:
    """Seconds from the first POST until all `count` requests have an open change."""
    data = scratch / f"workers-{workers}"
    server = ServeProcess(data, env={"DBVEND_WORKERS": str(workers)}).start(timeout=60)
    ledger = data / "ledger.sqlite3"
    try:
        warm = 2 * workers
        asyncio.run(post_all(server.url, bodies("warm", warm), clients))
        wait_for(ledger, warm, 120)
        started = time.perf_counter()
        asyncio.run(post_all(server.url, bodies("db", count), clients))
        wait_for(ledger, warm + count, 600)
        return time.perf_counter() - started
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated (1 first)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per worker count; the fastest is shown")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="60 requests, for a smoke run")
    args = parser.parse_args()
    count = 60 if args.quick else args.requests
    counts = sorted({1, *(int(n) for n in args.workers.split(","))})
    print(f"{count} requests per run, {args.clients} clients, {os.cpu_count()} cores, local git repository")
    print(f"{'workers':>7} {'total s':>8} {'req/s':>7} {'ms/req':>7} {'vs 1 worker':>12}")
    best: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="dbvend-bench-workers-") as scratch:
        for round_ in range(args.rounds):
            for workers in counts:
                elapsed = run(workers, count, args.clients, Path(scratch) / f"round-{round_}")
                best[workers] = min(best.get(workers, elapsed), elapsed)
    baseline = count / best[1]
    for workers in counts:
        elapsed = best[workers]
        rate = count / elapsed
        print(
            f"{workers:>7} {elapsed:>8.2f} {rate:>7.1f} {1000 * elapsed / count:>7.1f}"
            f" {rate / baseline:>11.2f}x"
        )


if __name__ == "__main__":
    main()
