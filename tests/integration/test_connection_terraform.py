"""Connection details end to end: `dbvend ci apply` with the real terraform reads a root's outputs and
records them; the ledger, the API, the pull request's comment, the portal and `dbvend connect` show
them; the password never travels with them.

The root uses only terraform's built-in `terraform_data` (no provider can be downloaded here) and the
S3 backend on moto. Its state holds a password on purpose (a sensitive variable, given through the
environment as CI gives secrets, and a sensitive output), so the test can look for it everywhere.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from engine.app import create_app
from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.claim import claim_from_raw
from engine.cli import main
from engine.intake import record_and_queue
from engine.services import Services, build_services
from engine.settings import Settings
from engine.store.records import NewRequest
from tests.support.app import sign_in_as
from tests.support.connections import POSTGRES, SENTINEL_PASSWORD
from tests.support.github_server import GitHubServer
from tests.support.terraform_roots import backend_file

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")

ROOT = "terraform/dev/orders"
REQUEST_ID = "3f2b8c1e-0000-4000-8000-00000000c0de"
TOKEN = "ghs_connection_test"
CONNECTION_ROOT_TF = Template(
    """
terraform {
  backend "s3" {}
}

variable "master_password" {
  type      = string
  sensitive = true
}

resource "terraform_data" "database" {
  input = "$host"
}

# What a real state may hold beside dbvend's outputs: a secret, which must stay there.
resource "terraform_data" "secret" {
  input = var.master_password
}

output "connection" {
  value = {
    engine            = "postgres"
    host              = terraform_data.database.output
    port              = $port
    database          = "$database"
    username          = "$username"
    reader_host       = null
    proxy_host        = null
    master_secret_arn = "$master_secret_arn"
    iam_auth          = true
  }
}

output "master_password" {
  value     = terraform_data.secret.output
  sensitive = true
}
"""
).substitute(POSTGRES)


# A root that would publish the password beside the details (nonsensitive() strips terraform's guard).
LEAKING_ROOT_TF = CONNECTION_ROOT_TF.replace(
    "    iam_auth          = true\n",
    "    iam_auth          = true\n    password          = nonsensitive(var.master_password)\n",
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@dataclass
class World:
    repo: Path
    base: str
    head: str
    number: int
    github: GitHubServer
    services: Services
    env: dict[str, str | None]
    ledger_file: Path


@pytest.fixture
def world(
    tmp_path: Path, backend: dict[str, str], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[World]:
    """A request in the ledger (change_open), its pull request on the fake GitHub with a root whose
    main.tf is CONNECTION_ROOT_TF (or the test's own, by indirect parametrisation), checked out."""
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "DATABASE_URL", "DBVEND_REPO"):
        monkeypatch.delenv(name, raising=False)
    ledger_file = tmp_path / "ledger.sqlite3"
    settings = Settings(data=tmp_path / "data", api_keys="k-one", database_url=f"sqlite:///{ledger_file}")
    services, _ = build_services(settings)
    payload = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}
    record_and_queue(
        services.ledger, NewRequest(REQUEST_ID, "api", "key-a", payload, "dev", "orders", "orders")
    )
    assert services.ledger.transition(REQUEST_ID, "change_open", "test")
    claim = claim_from_raw(payload, parse_catalog(default_catalog_text()), REQUEST_ID, datetime.now(UTC))
    backend_file(tmp_path, backend)
    with GitHubServer(tmp_path / "github") as github:
        head = github.commit(
            "dbvend/dev/orders",
            {
                f"{ROOT}/main.tf": getattr(request, "param", CONNECTION_ROOT_TF),
                f"{ROOT}/request.json": claim.to_json(),
            },
        )
        opened = httpx.post(
            f"{github.api}/pulls",
            json={"title": "dev/orders", "head": "dbvend/dev/orders", "base": "main"},
            headers={"Authorization": f"token {TOKEN}"},
        )
        repo = tmp_path / "infra"
        repo.mkdir()
        git(repo, "init", "-q")
        basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        git(repo, "-c", f"http.extraHeader=AUTHORIZATION: basic {basic}", "fetch", "-q", github.git_url,
            "+refs/heads/*:refs/remotes/origin/*")  # fmt: skip
        git(repo, "checkout", "-q", "--detach", head)
        env: dict[str, str | None] = {
            "TF_PLUGIN_CACHE_DIR": str(tmp_path / "plugin-cache"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "DATABASE_URL": settings.ledger_url,
            "DBVEND_DATA": str(tmp_path / "data"),
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_API_URL": github.url,
            "TF_VAR_master_password": SENTINEL_PASSWORD,  # as CI hands a secret to terraform
        }
        base = git(repo, "rev-parse", "origin/main").strip()
        yield World(repo, base, head, opened.json()["number"], github, services, env, ledger_file)


def apply(world: World) -> Any:
    refs = ["--repo", str(world.repo), "--base", world.base, "--head", world.head]
    args = [
        "ci",
        "apply",
        *refs,
        "--pr",
        str(world.number),
        "--backend-config",
        str(world.repo.parent / "backend.hcl"),
    ]
    return CliRunner().invoke(main, args, env=world.env)


def database_answer(services: Services) -> tuple[dict[str, Any], dict[str, Any], str]:
    """GET /v1/databases/dev/orders, the OpenAPI document, and the portal's page of the database."""
    with TestClient(create_app(services), follow_redirects=False) as client:
        answer = client.get("/v1/databases/dev/orders", headers={"x-api-key": "k-one"})
        assert answer.status_code == 200, answer.text
        document = client.get("/openapi.json").json()
        sign_in_as(client, "k-one", "/fleet")
        page = client.get("/databases/dev/orders")
        assert page.status_code == 200
    return answer.json(), document, page.text


def test_an_applied_root_tells_everyone_how_to_connect_and_nobody_its_password(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    before, _, page_before = database_answer(world.services)
    assert before["connection"] is None
    assert "Connection details appear here once the database is applied." in page_before

    caplog.set_level(logging.DEBUG)
    applied = apply(world)
    assert applied.exit_code == 0, applied.output
    assert "applied: 2 to add" in applied.output and POSTGRES["host"] in applied.output

    record = world.services.ledger.get(REQUEST_ID)
    assert record is not None and record.status == "applied" and record.connection == POSTGRES

    comments = world.github.comment_bodies(world.number)
    (comment,) = [body for body in comments if "dbvend:apply-summary:apply" in body]
    assert "How to connect (the password stays in Secrets Manager):" in comment
    assert f"- Host: `{POSTGRES['host']}`" in comment and "generate-db-auth-token" in comment

    answer, document, page = database_answer(world.services)
    assert answer["connection"] == POSTGRES
    Draft202012Validator({"$ref": "#/components/schemas/DatabaseAnswer", **document}).validate(answer)
    assert 'id="connect-title">Connect</h2>' in page and f"<code>{POSTGRES['host']}</code>" in page
    assert "aws secretsmanager get-secret-value --secret-id" in page and "${PASSWORD}@" in page

    shown = CliRunner().invoke(main, ["connect", "dev/orders"], env=world.env)
    assert shown.exit_code == 0 and "Host:" in shown.output and POSTGRES["host"] in shown.output

    # The password was in terraform's state, its outputs and the environment; it reached nothing else.
    everything = {
        "the CLI's output": applied.output + shown.output,
        "the job summary": Path(str(world.env["GITHUB_STEP_SUMMARY"])).read_text(),
        "the pull request's comments": "\n".join(comments),
        "the API's answer": json.dumps(answer),
        "the portal's page": page,
        "the logs": caplog.text,
        "the ledger's file": world.ledger_file.read_bytes().decode("utf-8", "replace"),
        "the request's history": json.dumps(record.as_dict()),
    }
    leaked = [where for where, text in everything.items() if SENTINEL_PASSWORD in text]
    assert leaked == []
    assert not {"password", "secret_string"} & set(record.connection or {})


@pytest.mark.parametrize("world", [LEAKING_ROOT_TF], indirect=True)
def test_an_output_that_would_publish_the_password_is_refused_and_the_apply_stands(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    applied = apply(world)
    assert applied.exit_code == 0, applied.output
    assert "connection details not read: connection details must hold no secret: refused key 'password'" in (
        applied.output
    )
    record = world.services.ledger.get(REQUEST_ID)
    assert record is not None and record.status == "applied" and record.connection is None
    answer, _, page = database_answer(world.services)
    assert answer["connection"] is None and "appear here once the database is applied" in page
    texts = [
        applied.output,
        caplog.text,
        *world.github.comment_bodies(world.number),
        world.ledger_file.read_bytes().decode("utf-8", "replace"),
    ]
    assert not [text for text in texts if SENTINEL_PASSWORD in text]


def test_the_outputs_without_the_password_were_all_there_was_to_leak(world: World) -> None:
    """The sentinel is really in the state and in `terraform output -json`: the test above proves a thing."""
    assert apply(world).exit_code == 0
    outputs = subprocess.run(
        ["terraform", "output", "-json"], cwd=world.repo / ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "TF_VAR_master_password": SENTINEL_PASSWORD},
    ).stdout  # fmt: skip
    assert SENTINEL_PASSWORD in outputs and json.loads(outputs)["master_password"]["sensitive"] is True


def fake_client(folder: Path, name: str) -> Path:
    """A `psql` / `mysql` that writes its argv and which password variables it got (never their value,
    only its shape) to <folder>/<name>.json."""
    script = folder / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "names = ('PGPASSWORD', 'MYSQL_PWD')\n"
        "given = {n: os.environ[n] for n in names if n in os.environ}\n"
        "like = all('Action=connect' in v and 'X-Amz-Signature=' in v for v in given.values())\n"
        "json.dump({'argv': sys.argv[1:], 'variables': sorted(given), 'token_like': like},\n"
        f"          open({str(folder / (name + '.json'))!r}, 'w'))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_connect_exec_signs_in_with_an_iam_token_given_only_through_the_environment(
    world: World, tmp_path: Path
) -> None:
    assert apply(world).exit_code == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_client(bin_dir, "psql")
    env = {key: value for key, value in world.env.items() if value is not None}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "connect", "dev/orders", "--exec"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads((bin_dir / "psql.json").read_text())
    assert seen == {
        "argv": [
            f"host={POSTGRES['host']} port=5432 dbname=orders user=dbadmin sslmode=require",
        ],
        "variables": ["PGPASSWORD"],
        "token_like": True,
    }
    assert (
        "X-Amz-Signature" not in done.stdout + done.stderr
        and "Action=connect" not in done.stdout + done.stderr
    )
    assert f"connecting to {POSTGRES['host']}:5432 as dbadmin" in done.stderr


def test_connect_says_when_there_is_nothing_yet(world: World) -> None:
    shown = CliRunner().invoke(main, ["connect", "dev/orders"], env=world.env)
    assert shown.exit_code == 1 and "no connection details (change_open)" in shown.output
    assert CliRunner().invoke(main, ["connect", "dev/nothere"], env=world.env).exit_code == 1
    assert CliRunner().invoke(main, ["connect", "orders"], env=world.env).exit_code == 2
