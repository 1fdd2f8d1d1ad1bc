"""Requests per second through render + checks + commit into a local repository, at 1, 100, 1,000.

Each size starts from a fresh repository and sends that many distinct requests through
`engine.pipeline.process_request` (the same code `dbvend request` runs). Printed per size:
requests/s and ms per request, and the ms per request of the first and last tenth of the run,
whose ratio shows whether a request costs more as the repository fills up. A per-phase split
(render, checks without fmt, terraform fmt, git commit) is measured on the same machine in the
same run, so the ratios compare like with like on a noisy machine.

    python bench/bench_request.py [--sizes 1,100,1000] [--merge]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.checkov.gate import PolicyGate, check_rendered
from engine.claim import claim_from_raw
from engine.gitops import Proposal
from engine.gitops.local import LocalRepository
from engine.hcl import check_fmt, run_checks
from engine.pipeline import new_request_id, process_request
from engine.render import render_claim
from engine.settings import Settings

ENGINES = ("postgres", "mysql", "aurora-postgresql", "aurora-mysql")
ENVS = ("dev", "staging", "prod")


def request_number(n: int) -> dict[str, Any]:
    return {
        "database_name": f"db{n}",
        "database_engine": ENGINES[n % 4],
        "environment": ENVS[n % 3],
        "owner": "bench",
        "team": "Performance",
    }


def run_size(size: int, terraform: str | None, merge: bool, gate: PolicyGate) -> list[float]:
    """Seconds per request, in order, for `size` requests into a fresh repository."""
    with tempfile.TemporaryDirectory(prefix="dbvend-bench-") as scratch:
        repo = LocalRepository.open_or_create(Path(scratch) / "repo")
        times = []
        for n in range(size):
            start = time.perf_counter()
            outcome = process_request(request_number(n), repo, gate, terraform=terraform)
            times.append(time.perf_counter() - start)
            if merge and outcome.change is not None:
                repo.merge(outcome.change.id)
        return times


def phase_split(terraform: str | None, gate: PolicyGate, count: int = 50) -> dict[str, float]:
    """Median ms per phase over `count` requests."""
    with tempfile.TemporaryDirectory(prefix="dbvend-bench-") as scratch:
        repo = LocalRepository.open_or_create(Path(scratch) / "repo")
        catalog = repo.catalog()
        phases: dict[str, list[float]] = {
            "render": [],
            "checks (no fmt)": [],
            "terraform fmt": [],
            "policy gate": [],
            "commit": [],
        }

        @contextmanager
        def timed(name: str) -> Iterator[None]:
            start = time.perf_counter()
            yield
            phases[name].append((time.perf_counter() - start) * 1000)

        for n in range(count):
            claim = claim_from_raw(request_number(n), catalog, new_request_id(), datetime.now(UTC))
            with timed("render"):
                rendered = render_claim(claim)
            with timed("checks (no fmt)"):
                run_checks(rendered, claim, None)
            if terraform is not None:
                with timed("terraform fmt"):
                    check_fmt(rendered.files["main.tf"], terraform)
            with timed("policy gate"):
                check_rendered(gate, rendered, catalog, claim.environment, datetime.now(UTC).date())
            with timed("commit"):
                repo.open_change(Proposal(rendered, claim, "bench", "bench"))
        return {name: statistics.median(values) for name, values in phases.items() if values}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--merge", action="store_true", help="merge every change, so main grows too")
    parser.add_argument("--no-fmt", action="store_true", help="skip the terraform fmt check")
    args = parser.parse_args()
    terraform = None if args.no_fmt else shutil.which("terraform")
    print(f"terraform fmt check: {'on (' + terraform + ')' if terraform else 'off'}; merge: {args.merge}")

    gate = Settings().policy_gate()
    start = time.perf_counter()
    gate.known()
    print(f"policy gate start (checkov worker): {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    run_size(1, terraform, False, gate)  # warm-up: python-hcl2 builds its grammar once per process
    print(f"cold start (first request in a process): {time.perf_counter() - start:.2f} s")

    split = phase_split(terraform, gate)
    total = sum(split.values())
    print("phase split, median ms per request over 50 requests:")
    for name, ms in split.items():
        print(f"  {name:<16} {ms:7.1f} ms  ({ms / total:5.1%})")

    baseline = None
    print(
        f"{'requests':>9} {'total s':>8} {'req/s':>7} {'ms/req':>7} {'first 10%':>10} {'last 10%':>9} "
        f"{'last/first':>10} {'ms/req vs 100':>14}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        times = run_size(size, terraform, args.merge, gate)
        tenth = max(1, size // 10)
        first = statistics.median(times[:tenth]) * 1000
        last = statistics.median(times[-tenth:]) * 1000
        per = sum(times) / size * 1000
        if size == 100:
            baseline = per
        ratio = f"{per / baseline:.2f}" if baseline else "-"
        print(
            f"{size:>9} {sum(times):>8.2f} {size / sum(times):>7.1f} {per:>7.1f} {first:>10.1f} {last:>9.1f} "
            f"{last / first:>10.2f} {ratio:>14}"
        )

    gate.close()


if __name__ == "__main__":
    main()
