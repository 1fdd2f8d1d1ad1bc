"""200 requests through the HTTP API while `dbvend serve` is SIGKILLed and restarted twice, with one
queue worker and with two (`--workers`, DBVEND_WORKERS: never two deliveries for one database at once)."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from engine.store.ledger import Ledger
from tests.support.server import API_KEY, ServeProcess

ENGINES = ("postgres", "mysql", "aurora-postgresql", "aurora-mysql")
ENVS = ("dev", "staging", "prod")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_every_202_has_exactly_one_change_across_two_sigkills(tmp_path: Path, workers: int) -> None:
    seed = int(os.environ.get("DBVEND_KILL_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    print(f"seed {seed} (rerun with DBVEND_KILL_SEED={seed})")
    # A short visibility timeout: deliveries come back while the first is still at work, so with two
    # workers the same database is in two workers' hands and only its lock keeps them apart.
    env = {"DBVEND_VISIBILITY_TIMEOUT": "2", "DBVEND_WORKERS": str(workers)}
    server = ServeProcess(tmp_path / "data", env=env).start(timeout=60)
    valid = [
        (
            f"k{n}",
            {"database_name": f"crash{n:03d}", "database_engine": ENGINES[n % 4], "environment": ENVS[n % 3]},
        )
        for n in range(1, 201)
    ]
    invalid = [
        (f"bad{n}", {"database_name": "postgres", "database_engine": "postgres", "environment": "dev"})
        for n in range(10)
    ]
    conflicting = [(f"dup{n}", {**valid[n][1]}) for n in range(5)]
    jobs = valid + invalid
    rng.shuffle(jobs)
    jobs += conflicting  # after their originals were sent
    kill_at = sorted([rng.randrange(20, 80), rng.randrange(100, 160)])
    answers: dict[str, httpx.Response] = {}
    sent, retries, lock = [0], [0], threading.Lock()
    up = threading.Event()
    up.set()

    def send(key: str, body: dict[str, str]) -> None:
        while True:
            up.wait()
            try:
                answer = httpx.post(
                    f"{server.url}/provision-rds",
                    headers={"x-api-key": API_KEY, "Idempotency-Key": key},
                    json=body,
                    timeout=10,
                )
            except httpx.TransportError:
                with lock:
                    retries[0] += 1
                time.sleep(0.05)
                continue
            with lock:
                answers[key] = answer
                sent[0] += 1
            return

    def client(part: list[tuple[str, dict[str, str]]]) -> None:
        for key, body in part:
            send(key, body)

    def killer() -> None:
        for moment in kill_at:
            while sent[0] < moment:
                time.sleep(0.005)
            up.clear()
            server.kill()
            server.start(timeout=60)
            up.set()

    head, tail = jobs[: len(valid) + len(invalid)], jobs[len(valid) + len(invalid) :]
    threads = [threading.Thread(target=client, args=(head[i::4],)) for i in range(4)]
    killing = threading.Thread(target=killer)
    started = time.monotonic()
    try:
        for thread in [*threads, killing]:
            thread.start()
        for thread in threads:
            thread.join()
        killing.join()
        client(tail)
        accepted = {key: a.json()["request_id"] for key, a in answers.items() if a.status_code == 202}
        assert set(accepted) == {key for key, _ in valid}, {k: a.status_code for k, a in answers.items()}
        assert all(answers[key].status_code == 422 for key, _ in invalid)
        assert all(answers[key].status_code == 409 for key, _ in conflicting)

        deadline = time.monotonic() + 300  # a loaded machine (tests side by side) is slow
        while time.monotonic() < deadline:
            statuses = [
                httpx.get(
                    f"{server.url}/v1/databases?limit=200&status=change_open", headers={"x-api-key": API_KEY}
                ).json()["items"]
            ]
            if len(statuses[0]) == len(valid):
                break
            time.sleep(0.5)
        changes = httpx.get(f"{server.url}/v1/changes", headers={"x-api-key": API_KEY}).json()["items"]
    finally:
        server.stop()
    print(f"kills after {kill_at} answers, {retries[0]} retries, {time.monotonic() - started:.1f} s")

    by_request = [c["request_id"] for c in changes]
    assert sorted(by_request) == sorted(accepted.values()), "one change per 202, none missing, none doubled"
    repo = server.data_dir / "repo"
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/dbvend/").split()
    assert len(branches) == len(valid)
    for change in changes:
        assert git(repo, "rev-list", "--count", f"main..{change['branch']}").strip() == "1"
        assert f"Request-Id: {change['request_id']}" in git(
            repo, "log", "-1", "--format=%B", change["branch"]
        )
    ledger = Ledger.connect(f"sqlite:///{server.data_dir / 'ledger.sqlite3'}")
    assert ledger.count() == len(valid), "refused requests left no ledger row"
    assert {r.status for r in ledger.list_requests(limit=500)} == {"change_open"}
