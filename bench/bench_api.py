"""POST /provision-rds under concurrent load on loopback: dbvend next to a bare FastAPI endpoint.

Both are served the same way (uvicorn, one process, no access log) and loaded from this process
by N concurrent httpx clients. Printed: accepted requests/s, p50 and p99 latency for each, the
dbvend/bare ratios, and dbvend's end-to-end rate from the first acceptance until every accepted
request has an open change (the worker renders, checks and commits one request at a time).

    python bench/bench_api.py [--clients 16] [--requests 1000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.server import API_KEY, ServeProcess, free_port


async def load(
    url: str, bodies: list[dict[str, str]], clients: int, headers: dict[str, str]
) -> tuple[float, list[float]]:
    """Seconds for all bodies and each call's latency; exits 1 on any answer but 202."""
    latencies: list[float] = []
    failures: list[str] = []
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def client() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                start = time.perf_counter()
                answer = await http.post(f"{url}/provision-rds", json=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                if answer.status_code != 202:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    if failures:
        print(f"{len(failures)} answers were not 202, e.g. {failures[0]}")
        sys.exit(1)
    return elapsed, latencies


def bodies(prefix: str, count: int) -> list[dict[str, str]]:
    return [
        {"database_name": f"{prefix}{n}", "database_engine": "mysql", "environment": "dev"}
        for n in range(count)
    ]


def report(name: str, elapsed: float, latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    rate = len(latencies) / elapsed
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(f"{name:<8} {len(latencies):>6} {rate:>8.1f} {p50:>8.1f} {p99:>8.1f}")
    return rate, p50, p99


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            httpx.post(f"{url}/provision-rds", json={}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 requests, for a smoke run")
    args = parser.parse_args()
    count = 200 if args.quick else args.requests
    print(f"{args.clients} concurrent clients, {count} requests per server, loopback")
    print(f"{'server':<8} {'calls':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")

    port = free_port()
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        asyncio.run(load(url, bodies("warm", 100), args.clients, {}))
        bare_figures = report("bare", *asyncio.run(load(url, bodies("db", count), args.clients, {})))
    finally:
        bare.terminate()
        bare.wait()

    with tempfile.TemporaryDirectory(prefix="dbvend-bench-") as scratch:
        server = ServeProcess(Path(scratch) / "data").start()
        headers = {"x-api-key": API_KEY}
        try:
            asyncio.run(load(server.url, bodies("warm", 50), args.clients, headers))
            first = time.perf_counter()
            elapsed, latencies = asyncio.run(load(server.url, bodies("db", count), args.clients, headers))
            dbvend_figures = report("dbvend", elapsed, latencies)
            total = count + 50
            while True:
                page = httpx.get(f"{server.url}/v1/changes", headers=headers, timeout=30).json()["items"]
                if len(page) >= total:
                    break
                time.sleep(0.25)
            end_to_end = time.perf_counter() - first
        finally:
            server.stop()
    print(
        f"ratio dbvend/bare: req/s {dbvend_figures[0] / bare_figures[0]:.2f}, "
        f"p50 {dbvend_figures[1] / bare_figures[1]:.2f}x, p99 {dbvend_figures[2] / bare_figures[2]:.2f}x"
    )
    print(
        f"end to end (accepted -> change open): {count} requests in {end_to_end:.1f} s"
        f" = {count / end_to_end:.1f} req/s"
    )


if __name__ == "__main__":
    main()
