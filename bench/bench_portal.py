"""The portal's fleet page: 100, 1,000 and 5,000 databases, each on main and in the ledger.

For each size: a git repository with that many claims on main (as bench_ttl builds it), a ledger
with one merged request per database, and the app in-process with a signed-in session. Timed,
median of --runs: `GET /fleet` whole (the ledger's requests holding a name, every claim on main
read at once, each parsed and priced, the rows sorted, totals, the chart, the HTML rendered and
sent). The baseline, measured in the same run, is reading the same claims alone
(`LocalRepository.claims`: one ls-tree, one cat-file batch). Printed: ms, µs per database, the
page's size, and the ratio.

    python bench/bench_portal.py [--sizes 100,1000,5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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


def fill_ledger(ledger: Ledger, repo: Path) -> None:
    """One merged request per claim on main, with the claim's own request id."""
    import json

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # starlette deprecates the httpx test client; irrelevant here
    from fastapi.testclient import TestClient

    print(
        f"{'databases':>9} {'page ms':>8} {'us/db':>7} {'page KiB':>9} {'claims alone ms':>16} {'ratio':>6}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            repo = Path(scratch) / "repo"
            repo.mkdir()
            build(repo, size)
            data = Path(scratch) / "data"
            services, _ = build_services(
                Settings(data=data, repo=repo, api_keys="bench-key", rate_limit=10**6)
            )
            fill_ledger(services.ledger, repo)
            with TestClient(create_app(services)) as client:
                form = client.get("/signin").text
                token = form.split('name="signin_token" value="', 1)[1].split('"', 1)[0]
                client.post("/signin", data={"api_key": "bench-key", "signin_token": token})
                first = client.get("/fleet")
                assert first.status_code == 200 and first.text.count("<tr data-database=") == size
                page = median_ms(lambda: client.get("/fleet"), args.runs)
                alone = median_ms(lambda: services.backend.claims("main"), args.runs)  # noqa: B023
            services.ledger.engine.dispose()
        kib = len(first.content) / 1024
        per_db = page * 1000 / size
        print(f"{size:>9} {page:>8.1f} {per_db:>7.1f} {kib:>9.0f} {alone:>16.1f} {page / alone:>6.1f}")


if __name__ == "__main__":
    main()
