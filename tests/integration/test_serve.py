"""`dbvend serve` as a real process: the seed's curl request becomes an open change within 5 s."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.hcl import parse_hcl
from tests.support.server import API_KEY, ServeProcess

SEED = {"database_name": "mydb123", "database_engine": "mysql", "environment": "prod"}
HEADERS = {"x-api-key": API_KEY}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    served = ServeProcess(tmp_path / "data").start()
    yield served
    served.stop()


def wait_for_status(
    server: ServeProcess, request_id: str, wanted: str, timeout: float = 5.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        answer: dict[str, object] = httpx.get(
            f"{server.url}/v1/requests/{request_id}", headers=HEADERS
        ).json()
        if answer["status"] == wanted or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def test_the_seed_request_becomes_an_open_change_within_5_seconds(server: ServeProcess) -> None:
    started = time.monotonic()
    answer = httpx.post(f"{server.url}/provision-rds", headers=HEADERS, json=SEED)
    assert answer.status_code == 202
    body = answer.json()
    assert body["message"] == "Request accepted" and body["sns_message_id"] and body["request_id"]
    assert answer.headers["location"] == f"/v1/requests/{body['request_id']}"

    status = wait_for_status(server, body["request_id"], "change_open")
    assert status["status"] == "change_open", status
    assert time.monotonic() - started < 5
    assert [event["status"] for event in status["history"]] == ["accepted", "processing", "change_open"]  # type: ignore[index, union-attr]

    repo = server.data_dir / "repo"
    main_tf = git(repo, "show", "dbvend/prod/mydb123:terraform/prod/mydb123/main.tf")
    assert "db.t3.medium" in main_tf and "password" not in main_tf.replace("manage_master_user_password", "")
    parse_hcl(main_tf)
    changes = httpx.get(f"{server.url}/v1/changes", headers=HEADERS).json()["items"]
    assert [(c["id"], c["branch"], c["request_id"]) for c in changes] == [
        (1, "dbvend/prod/mydb123", body["request_id"])
    ]
    database = httpx.get(f"{server.url}/v1/databases/prod/mydb123", headers=HEADERS).json()
    assert database["claim"]["instance_class"] == "db.t3.medium" and database["cost"]["monthly_usd"] > 0

    merged = httpx.post(f"{server.url}/v1/changes/1/merge", headers=HEADERS)
    assert merged.status_code == 200 and merged.json()["status"] == "merged"
    assert wait_for_status(server, body["request_id"], "merged")["status"] == "merged"
    again = httpx.post(f"{server.url}/provision-rds", headers=HEADERS, json=SEED)
    assert again.status_code == 409 and "already" in again.json()["detail"]


def test_status_command_prints_the_history(server: ServeProcess) -> None:
    body = httpx.post(f"{server.url}/provision-rds", headers=HEADERS, json=SEED).json()
    wait_for_status(server, body["request_id"], "change_open")
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "status", body["request_id"]],
        capture_output=True,
        text=True,
        env={**server.env},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "change_open" in done.stdout and "accepted" in done.stdout and "/v1/changes/1" in done.stdout
    closed = subprocess.run(
        [sys.executable, "-m", "engine.cli", "close", "1"],
        capture_output=True,
        text=True,
        env=server.env,
        timeout=60,
    )
    assert closed.returncode == 0, closed.stderr
    assert wait_for_status(server, body["request_id"], "closed")["status"] == "closed"


def test_a_generated_key_is_printed_once_and_stored_hashed(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "data", env={"DBVEND_API_KEYS": ""})
    server.start()
    server.stop()
    printed = [line.strip() for line in server.log_text().splitlines() if line.strip().startswith("dbv_")]
    assert len(printed) == 1
    key = printed[0]
    assert key not in (tmp_path / "data" / "api-keys.json").read_text()
    again = ServeProcess(tmp_path / "data", env={"DBVEND_API_KEYS": ""}).start()
    try:
        assert not [
            line
            for line in again.log_text().splitlines()[len(server.log_text().splitlines()) :]
            if "dbv_" in line
        ]
        ok = httpx.get(f"{again.url}/v1/changes", headers={"x-api-key": key})
        assert ok.status_code == 200
        assert httpx.get(f"{again.url}/v1/changes", headers={"x-api-key": key + "x"}).status_code == 403
    finally:
        again.stop()


def test_sigterm_lets_the_worker_finish_and_stop(server: ServeProcess) -> None:
    httpx.post(f"{server.url}/provision-rds", headers=HEADERS, json=SEED)
    code = server.stop()
    assert code in (0, -15)
    log = server.log_text()
    assert '"worker stopped"' in log and "Traceback" not in log
