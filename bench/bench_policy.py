"""The policy gate per request: the warm checkov worker next to one cold `checkov` CLI call.

Renders distinct requests (engines x environments x sizes), then gates them exactly as the
pipeline does (engine.checkov.gate.check_rendered: root written to a scratch directory, scanned with
dbvend.yaml's context, decided) through one warm worker, for 1, 10 and 50 requests. In the same
run, the same roots are scanned by one `checkov` CLI process each (the same external checks,
the same context), on a sample of requests because each call takes seconds. Printed: the
worker's start, ms per request for each, and the ratio CLI / warm (the figure that matters).

    python bench/bench_policy.py [--sizes 1,10,50] [--cli-samples 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.checkov.gate import check_rendered, scan_with_cli
from engine.claim import claim_from_raw
from engine.policy import policy_context
from engine.render import RenderedRoot, render_claim
from engine.settings import Settings

ENGINES = ("postgres", "mysql", "aurora-postgresql", "aurora-mysql")
ENVS = ("dev", "staging", "prod")
SIZES = ("small", "medium", "large")


def requests(count: int) -> list[tuple[str, RenderedRoot]]:
    catalog = parse_catalog(default_catalog_text())
    out = []
    for n in range(count):
        raw = {
            "database_name": f"bench{n}",
            "database_engine": ENGINES[n % 4],
            "environment": ENVS[n % 3],
            "size": SIZES[(n // 4) % 3],
        }
        claim = claim_from_raw(raw, catalog, f"bench-{n}", datetime.now(UTC))
        out.append((claim.environment, render_claim(claim)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--cli-samples", type=int, default=5, help="requests scanned by the CLI")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    catalog = parse_catalog(default_catalog_text())
    today = datetime.now(UTC).date()
    rendered = requests(max(sizes))

    gate = Settings().policy_gate()
    start = time.perf_counter()
    gate.known()
    started = time.perf_counter() - start
    print(f"checkov {gate.version}; warm worker start (imports, policies, warm-up scan): {started:.2f} s")

    warm: dict[int, float] = {}
    for size in sizes:
        times = []
        for environment, root in rendered[:size]:
            begin = time.perf_counter()
            decision = check_rendered(gate, root, catalog, environment, today)
            times.append(time.perf_counter() - begin)
            if decision.result == "fail":
                sys.exit(f"{root.root} failed the gate: {[f.check_id for f in decision.failures]}")
        warm[size] = sum(times) / size * 1000
        median = statistics.median(times) * 1000
        print(f"warm gate, {size:>3} requests: {warm[size]:7.1f} ms/request (median {median:.1f})")

    cli_times = []
    with tempfile.TemporaryDirectory(prefix="dbvend-bench-") as scratch:
        for _, root in rendered[: args.cli_samples]:
            directory = Path(scratch) / root.root
            directory.mkdir(parents=True)
            for name, text in root.files.items():
                (directory / name).write_text(text, encoding="utf-8")
            job = {"framework": "terraform", "root": str(directory), "context": policy_context(catalog)}
            begin = time.perf_counter()
            scan_with_cli(gate.checkov, job, gate.policy_dirs, 300)
            cli_times.append(time.perf_counter() - begin)
    gate.close()
    cli = sum(cli_times) / len(cli_times) * 1000
    print(f"cold checkov CLI, one process per request ({len(cli_times)} requests): {cli:7.1f} ms/request")
    for size in sizes:
        amortised = warm[size] + started * 1000 / size
        print(
            f"ratio CLI / warm at {size:>3} requests: {cli / warm[size]:6.1f}x "
            f"(with the worker's start spread over them: {cli / amortised:5.1f}x)"
        )


if __name__ == "__main__":
    main()
