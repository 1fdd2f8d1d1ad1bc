"""Notifications off the request path: `dbvend serve`'s pipeline latency with a receiver that never answers.

Three `dbvend serve` processes, one after the other, each with its own data dir and dbvend.yaml:
no notification target (the baseline), a target that accepts connections and never answers (every
POST waits out the sender's 5 s timeout), and a target that answers 200 at once; --rounds times, in
turn, so a slow spell of the machine falls on all three. In each, --requests requests one after the
other (the first, a process's cold start, not counted); timed: POST /provision-rds until it answers
(intake), and until the request reads change_open (the pipeline: queue, render, policy gate,
commit). Printed: median and p90 per receiver, and the hung/baseline and healthy/baseline ratios of
the medians (1.0: no delay).

    python bench/bench_notify.py [--requests 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.notification_sink import HungSink, Sink, catalog_text, served_repo
from tests.support.server import API_KEY, ServeProcess

HEADERS = {"x-api-key": API_KEY}


def run(data: Path, target: str | None, requests: int) -> tuple[list[float], list[float]]:
    """(intake seconds, pipeline seconds) per request, in a fresh `dbvend serve`."""
    served_repo(data, catalog_text(*([target] if target else [])))
    server = ServeProcess(data).start()
    intake, pipeline = [], []
    try:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
            for n in range(requests):
                body = {"database_name": f"bench{n:03d}", "database_engine": "postgres", "environment": "dev"}
                start = time.perf_counter()
                answer = http.post("/provision-rds", json=body)
                intake.append(time.perf_counter() - start)
                if answer.status_code != 202:
                    sys.exit(f"refused: {answer.status_code} {answer.text[:200]}")
                request_id = answer.json()["request_id"]
                while http.get(f"/v1/requests/{request_id}").json()["status"] != "change_open":
                    if time.perf_counter() - start > 60:
                        sys.exit(f"request {n} not change_open within 60 s")
                    time.sleep(0.005)
                pipeline.append(time.perf_counter() - start)
    finally:
        server.stop()
    return intake[1:], pipeline[1:]


def p90(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.9 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    names = ("no target (baseline)", "hung receiver", "healthy receiver")
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    hung_connections = delivered = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds * len(names)):
            name = names[n % len(names)]
            receiver: AbstractContextManager[HungSink | Sink | None] = (
                nullcontext() if n % 3 == 0 else HungSink() if n % 3 == 1 else Sink()
            )
            with receiver as sink:
                target = None if sink is None else f"{{url: '{sink.url}/hook', format: json}}"
                intake, pipeline = run(Path(tmp) / f"run{n}", target, args.requests)
                if isinstance(sink, HungSink):
                    hung_connections += len(sink.connections)
                elif isinstance(sink, Sink):
                    delivered += len(sink.events())
            results[name][0].extend(intake)
            results[name][1].extend(pipeline)
    print(
        f"{args.rounds} rounds of {args.requests} requests per receiver, one after the other"
        " (each run's first not counted); milliseconds"
    )
    print(f"{'':<22} {'intake p50':>11} {'intake p90':>11} {'pipeline p50':>13} {'pipeline p90':>13}")
    for name, (intake, pipeline) in results.items():
        row = [statistics.median(intake), p90(intake), statistics.median(pipeline), p90(pipeline)]
        print(
            f"{name:<22} "
            + " ".join(f"{v * 1000:>{w}.1f}" for v, w in zip(row, (11, 11, 13, 13), strict=True))
        )
    base_intake, base_pipeline = (statistics.median(v) for v in results["no target (baseline)"])
    for name in ("hung receiver", "healthy receiver"):
        took_intake, took_pipeline = (statistics.median(v) for v in results[name])
        print(
            f"{name}/baseline: intake {took_intake / base_intake:.2f}x,"
            f" pipeline {took_pipeline / base_pipeline:.2f}x"
        )
    print(
        f"hung receiver: {hung_connections} connections held unanswered; healthy receiver: {delivered} POSTs"
    )


if __name__ == "__main__":
    main()
