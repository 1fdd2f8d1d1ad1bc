"""Time-to-live from a real git repository: the leases of the claims at a commit, `dbvend ttl list` and
`dbvend ci ttl` (tests/unit/test_ttl.py tests engine.ttl with the clock given)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from engine.ci import claims_at
from engine.ttl import lease_of
from tests.support.repositories import commit, git, write_root


def test_leases_come_from_the_claims_at_a_commit(tmp_path: Path) -> None:
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    roots = [write_root(repo, "orders", "dev"), write_root(repo, "billing", "prod")]
    (repo / "terraform" / "README.md").write_text("x\n")
    head = commit(repo, "two")
    claims = claims_at(repo, head)
    assert sorted(claims) == sorted(roots)
    leases = {lease_of(d, text).identifier: lease_of(d, text) for d, text in claims.items()}
    orders = json.loads(claims[roots[0]])
    assert leases["orders"].expires_at == datetime.fromisoformat(orders["expires_at"].replace("Z", "+00:00"))
    assert leases["orders"].environment == "dev" and leases["orders"].request_id == "req-orders"


def test_dbvend_ttl_list_sorts_by_expiry_and_marks_what_is_due(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_root(repo, "orders", "dev")  # accepted 2026-11-23 00:00Z with dev's default time-to-live
    write_root(repo, "billing", "prod")
    head = commit(repo, "two")
    claims = {d: json.loads(t) for d, t in claims_at(repo, head).items()}
    expiring = [d for d, c in claims.items() if c["expires_at"]]
    assert expiring, "dev has a default time-to-live in the built-in catalog"
    expires = datetime.fromisoformat(claims[expiring[0]]["expires_at"].replace("Z", "+00:00"))
    runner = CliRunner()
    before = runner.invoke(
        main, ["ttl", "list", "--repo", str(repo), "--now", "2026-11-23T01:00:00Z", "--json"]
    )
    assert before.exit_code == 0, before.output
    rows = json.loads(before.output)["databases"]
    assert [r["directory"] for r in rows] == sorted(expiring, key=lambda d: claims[d]["expires_at"])
    near = (expires - timedelta(hours=1)).isoformat()
    assert (
        json.loads(runner.invoke(main, ["ttl", "list", "--repo", str(repo), "--now", near, "--json"]).output)[
            "databases"
        ][0]["state"]
        == "reminder due"
    )
    after = runner.invoke(
        main, ["ttl", "list", "--repo", str(repo), "--now", (expires + timedelta(1)).isoformat()]
    )
    assert "expired" in after.output
    bad = runner.invoke(main, ["ttl", "list", "--repo", str(repo), "--now", "yesterday"])
    assert bad.exit_code == 2 and "--now" in bad.output


def test_dbvend_ci_ttl_reports_what_is_due_in_the_job_summary(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    root = write_root(repo, "orders", "dev")
    commit(repo, "one")
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    quiet = CliRunner().invoke(
        main, ["ci", "ttl", "--repo", str(repo), "--now", "2026-11-23T01:00:00Z"], env=env
    )
    assert quiet.exit_code == 0 and "Nothing is expired" in summary.read_text()
    late = CliRunner().invoke(
        main, ["ci", "ttl", "--repo", str(repo), "--now", "2027-06-01T00:00:00Z"], env=env
    )
    assert late.exit_code == 0 and f"expired: `{root}`" in summary.read_text()
