"""GitHub mode against the GitHub stand-in at 100, 1,000 and 5,000 databases (issue 24): GitHub calls,
KiB read from GitHub and ms for a fleet page, a database page, a sweep and a new request.

For each size: the stand-in (tests/support/github_server.py) with that many claims on main, written in
one `git fast-import` commit (as tests/integration/test_claim_index.py does), a SQLite ledger with one
merged request per database, dbvend's services in GitHub mode (a token; write pacing set high so it
does not dominate), and the app in-process (FastAPI's TestClient) with a signed-in session. The claims
index is filled once with engine.claim_index.reconcile_index (reported apart: "fill"). Then, median of
--runs rounds each:

- fleet: `GET /fleet`, the first page (the index; its reconcile is one tree listing when unchanged);
- database: `GET /databases/dev/<one>`;
- sweep: `dbvend ttl sweep` in GitHub mode (engine.cli.ttl.sweep with the services' backend and
  replies, the ledger in the data dir) at a `--now` when nothing is due, so it writes nothing. It
  reads the leases from a checkout of the repository (as the scheduled workflow does), not from
  GitHub: the clone is made once per size, locally, and not counted;
- request: `POST /v1/databases` for a new name, then the worker (engine.queue.worker.Worker.run_once,
  the real policy gate from Settings().policy_gate(), checkov in .tools/checkov) until change_open.

Calls are the stand-in's request log (`github.requests`: REST and GraphQL requests); KiB read is the
size of the response bodies the stand-in sent, counted in its ASGI `send` (every HTTP answer it
gives, git's included). The baseline is each operation's ms at 100 databases in the same run.

    python bench/bench_github_scale.py [--sizes 100,1000,5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.app import create_app
from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.checkov.gate import PolicyGate
from engine.claim import claim_from_raw
from engine.claim_index import reconcile_index
from engine.queue.local import LocalQueue
from engine.queue.worker import Worker
from engine.services import Services, build_services
from engine.settings import Settings
from engine.store.ledger import Ledger
from engine.store.records import NewRequest
from tests.support.claims import ACCEPTED_AT
from tests.support.github_server import GitHubServer

CATALOG = parse_catalog(default_catalog_text(), "dbvend.yaml")
KEY = "bench-key"
OPERATIONS = ("fleet", "database", "sweep", "request")
SIGNIN = re.compile(r'name="signin_token" value="([^"]+)"')


class CountingGitHub(GitHubServer):
    """The stand-in, also counting the bytes of every response body it sends."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.bytes_sent = 0

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                self.bytes_sent += len(message.get("body", b""))
            await send(message)

        await super()._asgi(scope, receive, counted)


@dataclass(frozen=True)
class Measured:
    calls: float  # GitHub requests, median per round
    kib: float  # KiB of response bodies, median per round
    ms: float


def claim_text(i: int) -> tuple[str, str]:
    """(root, request.json) of database number i (as tests/integration/test_claim_index.py makes it)."""
    raw = {
        "database_name": f"db{i:05d}",
        "database_engine": "postgres",
        "environment": "dev",
        "team": "Data",
        "owner": "alice",
    }
    claim = claim_from_raw(raw, CATALOG, f"req-{i}", ACCEPTED_AT)
    return claim.root, claim.to_json()


def commit_many(github: GitHubServer, files: dict[str, str]) -> None:
    """One commit on main with many files, by `git fast-import` (one process)."""
    parent = github.branch_sha("main")
    lines = [f"commit refs/heads/main\ncommitter Bench <bench@example.com> {int(time.time())} +0000\n"]
    lines.append(f"data 5\nbench\nfrom {parent}\n")
    for path, text in files.items():
        lines.append(f"M 100644 inline {path}\ndata {len(text.encode())}\n{text}\n")
    done = github.git.run("fast-import", "--quiet", stdin="".join(lines).encode())
    assert done.returncode == 0, done.stderr.decode()


def fill_ledger(ledger: Ledger, size: int) -> None:
    """One merged request per database on main, with the claim's own request id."""
    with ledger.transaction() as connection:
        for i in range(size):
            request = {"database_name": f"db{i:05d}", "database_engine": "postgres", "environment": "dev"}
            new = NewRequest(f"req-{i}", "api", "key-bench", request, "dev", f"db{i:05d}", f"db{i:05d}")
            ledger.record_accepted(connection, new)
    for i in range(size):
        ledger.transition(f"req-{i}", "change_open", "bench")
        ledger.transition(f"req-{i}", "merged", "bench")


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """DBVEND_* for what reads Settings() itself (the sweep), put back after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def counted(github: CountingGitHub, action: Callable[[], object], runs: int) -> Measured:
    """Median calls, KiB and ms over `runs` calls of `action`."""
    calls, kib, times = [], [], []
    for _ in range(runs):
        requests, sent = len(github.requests), github.bytes_sent
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
        calls.append(len(github.requests) - requests)
        kib.append((github.bytes_sent - sent) / 1024)
    return Measured(statistics.median(calls), statistics.median(kib), statistics.median(times))


def measure(size: int, runs: int, gate: PolicyGate) -> tuple[dict[str, Measured], Measured]:
    """Each operation at `size` databases, and the index's first fill (calls, KiB, ms)."""
    from fastapi.testclient import TestClient

    from engine.cli.support import out
    from engine.cli.ttl import sweep

    with tempfile.TemporaryDirectory() as scratch, CountingGitHub(Path(scratch) / "github") as github:
        files = {}
        for i in range(size):
            root, text = claim_text(i)
            files[f"{root}/request.json"] = text
            files[f"{root}/main.tf"] = f"# root {i}\n"
        commit_many(github, files)
        clone = Path(scratch) / "checkout"
        subprocess.run(["git", "clone", "-q", str(github.git_dir), str(clone)], check=True)
        values = {
            "DBVEND_DATA": str(Path(scratch) / "data"),
            "DBVEND_API_KEYS": KEY,
            "DBVEND_RATE_LIMIT": str(10**6),
            "DBVEND_GITOPS": "github",
            "DBVEND_GITHUB_API_URL": github.url,
            "DBVEND_GITHUB_TOKEN": "ghs_bench",
            "DBVEND_GITHUB_REPOSITORY": "acme/infra",
            "DBVEND_GITHUB_WRITES_PER_MINUTE": str(10**6),
            "DBVEND_GITHUB_WRITES_PER_HOUR": str(10**6),
        }
        with environment(values):
            services: Services = build_services(Settings())[0]
            fill_ledger(services.ledger, size)
            requests, sent, start = len(github.requests), github.bytes_sent, time.perf_counter()
            report = reconcile_index(services.ledger, services.backend)
            fill = Measured(
                len(github.requests) - requests,
                (github.bytes_sent - sent) / 1024,
                (time.perf_counter() - start) * 1000,
            )
            assert report.read_blobs == size, report
            worker = Worker(services.ledger, LocalQueue(services.ledger), services.backend, gate, None)
            fresh = iter(range(10**6))

            def new_request() -> None:
                body = {
                    "database_name": f"fresh{next(fresh)}",
                    "database_engine": "postgres",
                    "environment": "dev",
                    "ttl": "3d",
                    "owner": "alice",
                    "team": "data",
                }
                answer = client.post("/v1/databases", headers={"x-api-key": KEY}, json=body)
                assert answer.status_code == 202, answer.text
                request_id = answer.json()["request_id"]
                while worker.run_once():
                    pass
                record = services.ledger.get(request_id)
                assert record is not None and record.status == "change_open", record

            def swept() -> None:
                now = ACCEPTED_AT.isoformat()  # 7 days before every expiry: nothing due
                text = sweep(clone, "HEAD", now, False, services.backend, services.replies)
                assert "Nothing is expired or due" in text, text

            results = {}
            with TestClient(create_app(services), follow_redirects=False) as client:
                token = SIGNIN.search(client.get("/signin").text)
                assert token is not None
                client.post("/signin", data={"api_key": KEY, "signin_token": token.group(1)})
                first = client.get("/fleet")
                assert first.status_code == 200 and f"{size} databases" in first.text, first.text[:2000]
                results["fleet"] = counted(github, lambda: client.get("/fleet"), runs)
                one = f"/databases/dev/db{size // 2:05d}"
                assert client.get(one).status_code == 200
                results["database"] = counted(github, lambda: client.get(one), runs)
                out.quiet = True
                try:
                    results["sweep"] = counted(github, swept, runs)
                finally:
                    out.quiet = False
                results["request"] = counted(github, new_request, runs)
            services.ledger.engine.dispose()
    return results, fill


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # starlette deprecates the httpx test client; irrelevant here
    sizes = [int(s) for s in args.sizes.split(",")]
    with Settings().policy_gate() as gate:
        gate.known()
        rows = {size: measure(size, args.runs, gate) for size in sorted({100, *sizes})}
    baseline = rows[100][0]
    header = f"{'databases':>9}"
    for name in OPERATIONS:
        header += f" | {name + ': calls':>15} {'KiB':>7} {'ms':>7} {'vs 100':>6}"
    print(header + f" | {'fill: calls':>11} {'KiB':>7} {'ms':>7}")
    for size in sizes:
        results, fill = rows[size]
        line = f"{size:>9}"
        for name in OPERATIONS:
            got = results[name]
            ratio = got.ms / baseline[name].ms
            line += f" | {got.calls:>15.0f} {got.kib:>7.1f} {got.ms:>7.1f} {ratio:>6.2f}"
        print(line + f" | {fill.calls:>11.0f} {fill.kib:>7.0f} {fill.ms:>7.0f}")


if __name__ == "__main__":
    main()
