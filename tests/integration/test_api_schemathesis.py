"""The API against its own OpenAPI document: schemathesis (`st run`) drives a real `dbvend serve`
through its examples, coverage, fuzzing and stateful phases with every check, and finds nothing.

Bounded (examples per operation, stateful scenarios and steps, a fixed seed) to about 70 s of wall
time alone on two cores, about two minutes beside the rest of `make test`; the subprocess's
timeout is the hard stop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import API_KEY, ServeProcess

ST = [sys.executable, "-m", "schemathesis.cli"]  # `st`, from the same environment
SEED = 20
MAX_EXAMPLES = 150  # per operation, in the coverage and fuzzing phases
SCENARIOS = 100  # stateful: chains of calls along the document's links
STEPS = 50  # the most calls in one chain
TIMEOUT = 300

# Every check runs. One is tuned, on six operations: positive_data_acceptance, which expects a
# schema-valid request never to be answered 422. These operations have rules a static JSON Schema
# cannot state, so a schema-valid request may still break one and is answered 422 naming the field:
# - POST /provision-rds, POST /v1/databases: dbvend.yaml on main decides the environments and,
#   per environment, the engines, versions, sizes, storage, TTL maxima and Aurora limits (and may
#   change with a merge); one field depends on another (Aurora fields only with Aurora engines,
#   storage_gb only without, min_acu <= max_acu) and database_name may not be a reserved word.
# - PATCH /v1/databases/{environment}/{identifier}: the new ttl must fall within the maximum of
#   the database's environment, counted from the request's acceptance (dbvend.yaml, the claim); a
#   modification is held to dbvend.yaml's limits and to the database as it is (storage grows by
#   10% or more, no older engine major, Aurora fields only on Aurora, something must change).
# - POST /v1/databases/{environment}/{identifier}/destroy: a reason may hold no invisible
#   character (Unicode categories C, Zl, Zp), which a portable regular expression cannot name.
# - POST /v1/databases/{environment}/{identifier}/clone: the copy is a request like any other
#   (dbvend.yaml's environments, TTL maxima, clone_from pairs; the source's engine and storage).
# - GET /v1/databases, GET /v1/fleet: a cursor is valid only as a listing's next_cursor (an opaque
#   token).
# The schema's own constraints are each enforced (negative_data_rejection runs everywhere).
ALSO_422 = '["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]'
CONFIG = f"""
color = false
seed = {SEED}
workers = 1

[generation]
max-examples = {MAX_EXAMPLES}
database = "none"

[phases.stateful]
max-steps = {STEPS}
generation.max-examples = {SCENARIOS}

[[operations]]
include-name = [
    "POST /provision-rds",
    "POST /v1/databases",
    "PATCH /v1/databases/{{environment}}/{{identifier}}",
    "POST /v1/databases/{{environment}}/{{identifier}}/destroy",
    "POST /v1/databases/{{environment}}/{{identifier}}/clone",
    "GET /v1/databases",
    "GET /v1/fleet",
]
checks.positive_data_acceptance.expected-statuses = {ALSO_422}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    # With the webhook configured, a delivery schemathesis cannot sign is 401, not 503.
    env = {
        "DBVEND_GITHUB_WEBHOOK_SECRET": "not-told-to-schemathesis",
        "DBVEND_GITHUB_REPOSITORY": "acme/infra",
    }
    served = ServeProcess(tmp_path_factory.mktemp("schemathesis") / "data", env=env).start()
    try:
        yield served
    finally:
        served.stop()


@pytest.mark.slow
def test_schemathesis_finds_nothing(server: ServeProcess, tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    command = [
        *ST,
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        f"{server.url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        "all",
        "--header",
        f"x-api-key: {API_KEY}",
        "--request-timeout",
        "10",
    ]
    start = time.monotonic()
    run = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    seconds = time.monotonic() - start
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis failed after {seconds:.0f} s:\n{output[-20000:]}"
    assert "Tested: 14" in output, output[-3000:]
    phases = output[output.index("Examples") : output.index("=" * 20)] if "Examples" in output else ""
    print(f"schemathesis: {seconds:.1f} s\n{phases}{output[output.rindex('Test cases:') :]}")
