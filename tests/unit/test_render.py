"""Rendering: every engine x environment x option is covered, roots carry the claim and match their golden
files, values are escaped, and the checks catch what they are for (tests/integration/test_render.py
renders every combination and runs terraform on the roots)."""

from __future__ import annotations

import itertools
import os
import re

import jinja2
import pytest

from engine.catalog import Catalog
from engine.claim import claim_from_raw, parse_claim
from engine.connection import FIELDS
from engine.hcl import (
    check_claim,
    check_no_password,
    check_parameters_hold_no_secret,
    check_schema,
    fmt_layout,
    hcl_unquote,
    parse_hcl,
    resources_of,
)
from engine.render import _environment, hcl_string, render_claim
from engine.spec import ENGINES
from tests.support.claims import ACCEPTED_AT, ENVIRONMENTS, NASTY_STRINGS, claim_for, matrix, tampered
from tests.support.paths import GOLDEN


def test_matrix_covers_every_engine_environment_and_option(catalog: Catalog) -> None:
    cases = matrix(catalog)
    assert {(e, env) for e, env, _ in cases} == set(itertools.product(ENGINES, ENVIRONMENTS))
    assert len(cases) > 100


def test_seed_mapping_dev_micro_prod_medium(catalog: Catalog) -> None:
    assert claim_for(catalog, "mysql", "dev", {}).instance_class == "db.t3.micro"
    assert claim_for(catalog, "mysql", "prod", {}).instance_class == "db.t3.medium"


def test_prod_gets_the_protections(catalog: Catalog) -> None:
    claim = claim_for(catalog, "postgres", "prod", {})
    assert (claim.multi_az, claim.deletion_protection, claim.final_snapshot) == (True, True, True)
    assert claim.backup_retention_days >= 7 and claim.expires_at is None
    main_tf = render_claim(claim).files["main.tf"]
    # one snapshot name per request: the same name destroyed twice never collides
    assert 'final_snapshot_identifier           = "orders-final-3f2b8c1e"' in main_tf
    again = claim_from_raw(
        {"database_name": "orders", "database_engine": "postgres", "environment": "prod"},
        catalog,
        "My-Request--7",
        ACCEPTED_AT,
    )
    assert (
        'final_snapshot_identifier           = "orders-final-myreques"'
        in render_claim(again).files["main.tf"]
    )
    aurora = claim_for(catalog, "aurora-postgresql", "prod", {})
    assert aurora.readers == 1, "a prod Aurora cluster defaults to a reader in another AZ"


def test_expiry_tag_follows_the_ttl(catalog: Catalog) -> None:
    claim = claim_for(catalog, "postgres", "dev", {"ttl": "12h"})
    assert claim.expires_at == "2026-11-23T21:30:00Z" and claim.tags["expires-at"] == claim.expires_at
    assert claim_for(catalog, "postgres", "dev", {}).expires_at == "2026-11-30T09:30:00Z"  # dev default 7d


def test_same_claim_same_bytes(catalog: Catalog) -> None:
    for engine in ENGINES:
        claim = claim_for(catalog, engine, "staging", {"owner": "dana"})
        first, second = render_claim(claim), render_claim(parse_claim(claim.to_json()))
        assert first.files == second.files


GOLDEN_CASES = {
    "mysql-prod-seed": ("mysql", "prod", {}, "mydb123"),
    "postgres-dev-ttl": ("postgres", "dev", {"ttl": "12h", "owner": "alice", "size": "medium"}, "orders"),
    "aurora-postgresql-staging-proxy": (
        "aurora-postgresql",
        "staging",
        {"readers": 2, "proxy": True, "min_acu": 1, "max_acu": 8},
        "ledger",
    ),
    "aurora-mysql-dev": ("aurora-mysql", "dev", {"team": "Search"}, "search_index"),
    # Restores (issue 22): a snapshot and a point in time, of an instance and of a cluster.
    "postgres-staging-restore-snapshot": (
        "postgres",
        "staging",
        {
            "identifier": "orders-copy",
            "restore_from": {"database": "prod/orders", "snapshot": "orders-final-3f2b8c1e"},
        },
        "orders",
    ),
    "mysql-dev-restore-point-in-time": (
        "mysql",
        "dev",
        {
            "identifier": "shop-copy",
            "restore_from": {"database": "prod/shop", "point_in_time": "2026-11-23T06:00:00Z"},
        },
        "shop",
    ),
    "aurora-postgresql-prod-restore-snapshot": (
        "aurora-postgresql",
        "prod",
        {"restore_from": {"database": "prod/ledger", "snapshot": "ledger-final-0a1b2c3d"}},
        "ledger",
    ),
    "aurora-mysql-dev-restore-latest": (
        "aurora-mysql",
        "dev",
        {
            "identifier": "search-copy",
            "restore_from": {"database": "staging/search-index", "point_in_time": "latest"},
        },
        "search_index",
    ),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_roots(catalog: Catalog, case: str) -> None:
    engine, env, opts, name = GOLDEN_CASES[case]
    rendered = render_claim(claim_for(catalog, engine, env, opts, name=name))
    folder = GOLDEN / case
    if os.environ.get("DBVEND_UPDATE_GOLDEN"):
        folder.mkdir(parents=True, exist_ok=True)
        for file, text in rendered.files.items():
            (folder / file).write_text(text)
    for file, text in rendered.files.items():
        assert (folder / file).read_text() == text, f"{case}/{file} differs; DBVEND_UPDATE_GOLDEN=1 rewrites"


# python-hcl2's lexer refuses a string that ends right after an escaped "$${" or "%%{" (terraform
# accepts it, as tests/integration/test_render.py shows), so those two are left to terraform.
@pytest.mark.parametrize("value", [v for v in NASTY_STRINGS if v not in ("${", "%{")])
def test_hcl_strings_round_trip_through_python_hcl2(value: str) -> None:
    parsed = parse_hcl(f"x = {hcl_string(value)}\n")
    assert hcl_unquote(parsed["x"]) == value
    assert "${" not in hcl_string(value).replace("$${", "")


def test_templates_refuse_unescaped_values() -> None:
    template = _environment().from_string('name = "{{ value }}"')
    with pytest.raises(TypeError, match="unescaped"):
        template.render(value="x")
    with pytest.raises(jinja2.UndefinedError):
        _environment().from_string("{{ missing | hcl }}").render()


# -- the checks catch what they are for -------------------------------------------------------


def test_claim_check_catches_a_hand_edit(catalog: Catalog) -> None:
    claim = claim_for(catalog, "mysql", "prod", {})
    text = tampered(render_claim(claim), '"db.t3.medium"', '"db.r6g.8xlarge"')
    assert any("instance_class" in p for p in check_claim(parse_hcl(text), claim))
    text = tampered(render_claim(claim), '"managed-by"  = "dbvend"', '"managed-by"  = "hand"')
    assert any("tags" in p for p in check_claim(parse_hcl(text), claim))


def test_password_check_catches_a_password(catalog: Catalog) -> None:
    claim = claim_for(catalog, "postgres", "dev", {})
    text = tampered(
        render_claim(claim),
        "  manage_master_user_password         = true",
        '  password                            = "hunter2"',
    )
    assert check_no_password(parse_hcl(text)) == [
        "aws_db_instance.this: attribute password is not allowed (managed secrets only)"
    ]


@pytest.mark.parametrize(
    ("engine", "opts"),
    [
        ("postgres", {}),
        ("mysql", {}),
        ("aurora-postgresql", {"proxy": True}),
        ("aurora-mysql", {"readers": 1}),
    ],
)
def test_every_root_publishes_its_connection_by_name_and_no_secret(
    catalog: Catalog, engine: str, opts: dict[str, object]
) -> None:
    claim = claim_for(catalog, engine, "dev", opts)
    parsed = parse_hcl(render_claim(claim).files["main.tf"])
    parameter = hcl_unquote(resources_of(parsed)[("aws_ssm_parameter", "connection")])
    assert parameter["name"] == "/dbvend/dev/orders/connection" and parameter["type"] == "String"
    assert parameter["insecure_value"] == "${jsonencode(local.connection)}" and "value" not in parameter
    assert parameter["tags"] == dict(claim.tags)
    published = parsed["locals"][0]["connection"]
    assert tuple(published) == FIELDS and hcl_unquote(published["engine"]) == engine
    main = "aws_rds_cluster" if claim.is_aurora else "aws_db_instance"
    assert published["master_secret_arn"] == f"${{{main}.this.master_user_secret[0].secret_arn}}"
    assert (published["proxy_host"] == "${aws_db_proxy.this.endpoint}") is bool(opts.get("proxy"))
    outputs = {name: body for block in parsed["output"] for name, body in block.items()}
    assert outputs['"connection"']["value"] == "${local.connection}"
    assert check_parameters_hold_no_secret(parsed) == [] and check_schema(parsed) == []


def test_published_secret_check_catches_a_secure_string_and_a_password(catalog: Catalog) -> None:
    rendered = render_claim(claim_for(catalog, "postgres", "dev", {}))
    secure = tampered(rendered, 'type        = "String"', 'type        = "SecureString"')
    assert check_parameters_hold_no_secret(parse_hcl(secure)) == [
        "aws_ssm_parameter.connection: type must be String (a SecureString is for secrets)"
    ]
    leaked = tampered(
        rendered,
        "    iam_auth          = aws_db_instance.this.iam_database_authentication_enabled",
        "    iam_auth          = aws_db_instance.this.iam_database_authentication_enabled\n"
        "    secret            = data.aws_secretsmanager_secret_version.master.secret_string",
    )
    assert check_parameters_hold_no_secret(parse_hcl(leaked)) == [
        "aws_ssm_parameter.connection: its value names a secret (secret_string)"
    ]


def test_schema_check_catches_unknown_arguments_blocks_and_references(catalog: Catalog) -> None:
    claim = claim_for(catalog, "aurora-mysql", "dev", {"proxy": True})
    rendered = render_claim(claim)
    assert check_schema(parse_hcl(rendered.files["main.tf"])) == []
    typo = tampered(rendered, "  storage_encrypted  ", "  storage_encrypte   ")
    assert any("storage_encrypte is not an argument" in p for p in check_schema(parse_hcl(typo)))
    block = tampered(rendered, "serverlessv2_scaling_configuration {", "serverless_scaling {")
    assert any("block serverless_scaling" in p for p in check_schema(parse_hcl(block)))
    nested = tampered(rendered, "    min_capacity             = 0.5", "    min_acu                  = 0.5")
    assert any("min_acu is not an argument" in p for p in check_schema(parse_hcl(nested)))
    ref = tampered(rendered, "aws_rds_cluster.this.reader_endpoint", "aws_rds_cluster.this.reader_host")
    assert any("has no attribute reader_host" in p for p in check_schema(parse_hcl(ref)))


def test_fmt_layout_keeps_names_and_empties_values() -> None:
    text = '  tags = {\n    "a=b" = "x=y"\n    "k"   = ["1", "say \\"hi\\""]\n  }\n'
    assert fmt_layout(text) == '  tags = {\n    "a=b" = ""\n    "k"   = ["", ""]\n  }\n'


def test_files_with_one_layout_share_one_fmt_verdict(catalog: Catalog) -> None:
    one = render_claim(claim_for(catalog, "mysql", "dev", {"owner": "a"}, name="a")).files["main.tf"]
    two = render_claim(claim_for(catalog, "mysql", "dev", {"owner": "someone-else"}, name="bbbbbbbb")).files[
        "main.tf"
    ]
    assert one != two and fmt_layout(one) == fmt_layout(two)
    other_keys = render_claim(claim_for(catalog, "mysql", "dev", {"team": "x"})).files["main.tf"]
    assert fmt_layout(other_keys) != fmt_layout(one), "a new tag key changes the alignment, so the layout"


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_roots_need_the_terraform_whose_s3_backend_locks_by_itself(catalog: Catalog, case: str) -> None:
    """Every root's S3 backend uses `use_lockfile`, generally available from Terraform 1.11 (its
    1.11.0 changelog; terraform-aws-modules/terraform-aws-rds requires >= 1.11.1): an older
    Terraform must refuse the root instead of running without a lock."""
    engine, env, opts, name = GOLDEN_CASES[case]
    main_tf = render_claim(claim_for(catalog, engine, env, opts, name=name)).files["main.tf"]
    assert re.search(r'^  required_version = ">= 1\.11"', main_tf, re.M), main_tf[:400]
