"""Rendered roots through the terraform binary: fmt-clean, and every escaped string means exactly its
value to terraform (tests/unit/test_render.py checks the roots without it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.hcl import check_fmt, parse_hcl, run_checks
from engine.render import hcl_string, render_claim
from tests.support.claims import NASTY_STRINGS, claim_for, matrix, tampered


def test_every_combination_renders_and_passes_the_checks(catalog: Catalog, tmp_path: Path) -> None:
    for n, (engine, env, opts) in enumerate(matrix(catalog)):
        claim = claim_for(catalog, engine, env, opts, name=f"db{n}")
        rendered = render_claim(claim)
        results = run_checks(rendered, claim, None)
        failed = [r for r in results if r.status != "pass" and r.name != "terraform-fmt"]
        assert not failed, (engine, env, opts, failed)
        main_tf = rendered.files["main.tf"]
        assert not re.search(r"^\s*(master_)?password\s*=", main_tf, re.MULTILINE)
        parsed = parse_hcl(main_tf)
        resources = {rtype for entry in parsed["resource"] for rtype in entry}
        expected = (
            {'"aws_rds_cluster"', '"aws_rds_cluster_instance"'} if claim.is_aurora else {'"aws_db_instance"'}
        )
        assert expected | {'"aws_cloudwatch_metric_alarm"'} <= resources
        assert ('"aws_db_proxy"' in resources) == claim.proxy
        assert main_tf.count('resource "aws_rds_cluster_instance"') == (
            1 + claim.readers if claim.is_aurora else 0
        )
        tags = claim.tags
        assert tags["managed-by"] == "dbvend" and tags["environment"] == env
        assert ("expires-at" in tags) == (claim.expires_at is not None)
        # every root is written out so that terraform fmt checks them all in one run below
        for name, text in rendered.files.items():
            target = tmp_path / rendered.relative(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH: fmt check of the matrix not possible here")
    done = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-list=true", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
    )
    assert done.returncode == 0, f"not fmt-clean: {done.stdout}{done.stderr}"


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
def test_hcl_strings_mean_exactly_their_value_to_terraform(tmp_path: Path) -> None:
    """terraform itself evaluates every escaped literal back to the original string."""
    expression = "jsonencode([" + ", ".join(hcl_string(v) for v in NASTY_STRINGS) + "])\n"
    done = subprocess.run(
        ["terraform", "console"],
        input=expression,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(json.loads(done.stdout)) == NASTY_STRINGS


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
def test_fmt_check_catches_misalignment(catalog: Catalog) -> None:
    rendered = render_claim(claim_for(catalog, "postgres", "dev", {}))
    terraform = shutil.which("terraform")
    assert terraform is not None
    assert check_fmt(rendered.files["main.tf"], terraform) == []
    assert check_fmt(tampered(rendered, "  engine_version      ", "  engine_version "), terraform) != []


def test_run_checks_reports_each_check(catalog: Catalog) -> None:
    claim = claim_for(catalog, "postgres", "dev", {})
    results = run_checks(render_claim(claim), claim, shutil.which("terraform"))
    assert [r.name for r in results] == [
        "hcl-parse",
        "claim",
        "no-password",
        "no-published-secret",
        "provider-schema",
        "terraform-fmt",
    ]
    assert all(r.status == "pass" for r in results), results
    broken = replace(render_claim(claim), files={"main.tf": "resource {"})
    assert [(r.name, r.status) for r in run_checks(broken, claim, None)] == [("hcl-parse", "fail")]
