"""The portal's fleet page, paged through the claims index: 100, 1,000 and 10,000 databases.

For each size: a git repository with that many claims on main (as bench_ttl builds them), a ledger
with one merged request per database, and the app in-process with a signed-in session. The first
`GET /fleet` fills the claims index (engine.claim_index: the tree's ids, every blob read once);
then timed, median of --runs, whole requests: the first page (the reconcile pass finding
terraform/'s tree unchanged, a page of 100 from the index joined with the requests holding each
name, the totals per environment and team grouped in the database, the chart, the HTML), a page
deep in the fleet (its cursor), and a filtered first page (environment and team). The baseline is
the same first page at 100 databases, measured in the same run. Printed: ms, the ratio to the
baseline, the page's size, and the first fill.

    python bench/bench_portal.py [--sizes 100,1000,10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_ttl import build
from bench.repos import median_ms
from engine.app import create_app
from engine.ci import claims_at
from engine.intake import record_and_queue
from engine.services import build_services
from engine.settings import Settings
from engine.store.ledger import Ledger
from engine.store.records import NewRequest

NEXT = re.compile(r'<a href="(/fleet\?[^"]+)">Next')


def fill_ledger(ledger: Ledger, repo: Path) -> None:
    """One merged request per claim on main, with the claim's own request id."""
    for root, text in claims_at(repo, "HEAD").items():
        claim = json.loads(text)
        _, environment, identifier = root.split("/")
        request = claim["request"]
        record_and_queue(
            ledger,
            NewRequest(claim["request_id"], "api", "key-bench", request, environment, identifier, identifier),
        )
        ledger.transition(claim["request_id"], "change_open", "bench")
        ledger.transition(claim["request_id"], "merged", "bench")


def measure(size: int, runs: int) -> tuple[float, float, float, float, float]:
    """first page ms, deep page ms, filtered page ms, page KiB, first fill s."""
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        repo.mkdir()
        build(repo, size)
        services, _ = build_services(
            Settings(data=Path(scratch) / "data", repo=repo, api_keys="bench-key", rate_limit=10**6)
        )
        fill_ledger(services.ledger, repo)
        with TestClient(create_app(services)) as client:
            form = client.get("/signin").text
            token = form.split('name="signin_token" value="', 1)[1].split('"', 1)[0]
            client.post("/signin", data={"api_key": "bench-key", "signin_token": token})
            start = time.perf_counter()
            first = client.get("/fleet")
            fill = time.perf_counter() - start
            assert first.status_code == 200 and f"{size} databases" in first.text, first.text[:2000]
            assert first.text.count("<tr data-database=") == min(size, 100)
            deep = client.get("/fleet")
            for _ in range(size // 200):  # half way through the fleet
                found = NEXT.search(deep.text)
                assert found is not None
                deep = client.get(found.group(1).replace("&amp;", "&"))
            deep_url = str(deep.url)
            page = median_ms(lambda: client.get("/fleet"), runs)
            deep_ms = median_ms(lambda: client.get(deep_url), runs)
            filtered = median_ms(lambda: client.get("/fleet?environment=dev&team=data"), runs)
        services.ledger.engine.dispose()
    return page, deep_ms, filtered, len(first.content) / 1024, fill


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # starlette deprecates the httpx test client; irrelevant here
    baseline, _, _, _, _ = measure(100, args.runs)
    print(
        f"{'databases':>9} {'page ms':>8} {'vs 100':>7} {'deep page ms':>13} {'filtered ms':>12}"
        f" {'page KiB':>9} {'first fill s':>13}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        page, deep, filtered, kib, fill = measure(size, args.runs)
        print(
            f"{size:>9} {page:>8.1f} {page / baseline:>7.2f} {deep:>13.1f} {filtered:>12.1f}"
            f" {kib:>9.0f} {fill:>13.2f}"
        )


if __name__ == "__main__":
    main()
