"""Connection details: read from terraform's outputs, checked, and told to people without a password."""

from __future__ import annotations

import ast
import shlex
from typing import Any

import pytest

from engine.connection import (
    FIELDS,
    PASSWORD_PLACEHOLDER,
    SECRET_NAME,
    Connection,
    client_argv,
    connection_from_outputs,
    connection_markdown,
    connection_or_none,
    connection_string,
    connection_text,
    iam_commands,
    parse_connection,
    secret_commands,
)
from tests.support.connections import AURORA_MYSQL, POSTGRES, SECRET_ARN
from tests.support.paths import ROOT


def outputs(value: Any, sensitive: bool = False) -> dict[str, Any]:
    """`terraform output -json` of a root with its connection output."""
    return {
        "endpoint": {"sensitive": False, "type": "string", "value": "x"},
        "connection": {"sensitive": sensitive, "type": ["object", {}], "value": value},
    }


def test_outputs_become_a_connection() -> None:
    connection = connection_from_outputs(outputs(POSTGRES))
    assert connection is not None and connection.as_dict() == POSTGRES
    assert tuple(connection.as_dict()) == FIELDS
    assert connection.region == "us-east-1" and connection.password_variable == "PGPASSWORD"
    mysql = parse_connection(AURORA_MYSQL)
    assert mysql.region == "eu-west-1" and mysql.password_variable == "MYSQL_PWD" and not mysql.is_postgres


def test_a_root_without_the_output_has_no_connection() -> None:
    assert connection_from_outputs({"endpoint": {"value": "x", "sensitive": False}}) is None
    assert connection_from_outputs({}) is None


def test_a_sensitive_output_is_refused() -> None:
    with pytest.raises(ValueError, match="sensitive"):
        connection_from_outputs(outputs(POSTGRES, sensitive=True))


@pytest.mark.parametrize(
    "key",
    ["password", "master_password", "PGPASSWORD", "secret_string", "db_passwd", "auth_token", "credentials"],
)
def test_a_key_that_names_a_secret_is_refused_without_its_value(key: str) -> None:
    with pytest.raises(ValueError, match="hold no secret") as caught:
        parse_connection({**POSTGRES, key: "hunter2-value"})
    assert "hunter2-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"engine": "oracle"}, "engine"),
        ({"port": 0}, "port"),
        ({"port": True}, "port"),
        ({"port": "5432; rm -rf /"}, "port"),
        ({"host": "orders.example.com; curl evil"}, "host"),
        ({"host": "$(id)"}, "host"),
        ({"host": "orders.example.com\n"}, "host"),
        ({"username": "dbadmin\nrm -rf /"}, "username"),
        ({"database": "orders db"}, "database"),
        ({"username": "dbadmin'--"}, "username"),
        ({"master_secret_arn": "arn:aws:ssm:us-east-1:123456789012:parameter/x"}, "master_secret_arn"),
        ({"iam_auth": "yes"}, "iam_auth"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_every_value_is_checked_against_an_allow_list(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        parse_connection({**POSTGRES, **change})


def test_a_port_as_text_and_missing_optional_fields_are_fine() -> None:
    minimal = {k: POSTGRES[k] for k in ("engine", "host", "database", "username")} | {"port": "5432"}
    connection = parse_connection(minimal)
    assert connection.port == 5432 and connection.master_secret_arn is None and not connection.iam_auth
    assert secret_commands(connection) == [] and connection.region == "us-east-1"  # from the RDS host


def test_a_ledgers_doubtful_row_is_no_connection() -> None:
    assert connection_or_none(None) is None
    assert connection_or_none({**POSTGRES, "password": "x"}) is None
    assert connection_or_none(POSTGRES) == parse_connection(POSTGRES)


def test_the_iam_commands_make_a_token_into_the_environment() -> None:
    connection = parse_connection(POSTGRES)
    export, client = iam_commands(connection)
    assert export == (
        "export PGPASSWORD=$(aws rds generate-db-auth-token --hostname orders.c9akciq32.us-east-1.rds."
        "amazonaws.com --port 5432 --username dbadmin --region us-east-1)"
    )
    assert shlex.split(client) == [
        "psql",
        f"host={POSTGRES['host']} port=5432 dbname=orders user=dbadmin sslmode=require",
    ]
    mysql = parse_connection(AURORA_MYSQL)
    assert "--enable-cleartext-plugin" in iam_commands(mysql)[1]  # MySQL sends the token in clear, in TLS
    assert "--enable-cleartext-plugin" not in client_argv(mysql)
    assert iam_commands(mysql)[0].startswith("export MYSQL_PWD=$(aws rds generate-db-auth-token")


def test_the_secret_commands_fetch_the_password_into_the_environment_only() -> None:
    export, client = secret_commands(parse_connection(POSTGRES))
    # the `!` of RDS's secret name stays single-quoted, outside double quotes (no history expansion)
    assert export == (
        f"export PGPASSWORD=$(aws secretsmanager get-secret-value --secret-id '{SECRET_ARN}' --region "
        "us-east-1 --query SecretString --output text | jq -r .password)"
    )
    assert "PGPASSWORD" not in client and "password" not in client.lower()


def test_the_connection_string_holds_a_placeholder() -> None:
    assert connection_string(parse_connection(POSTGRES)) == (
        f"postgresql://dbadmin:{PASSWORD_PLACEHOLDER}@orders.c9akciq32.us-east-1.rds.amazonaws.com:5432/orders"
        "?sslmode=require"
    )
    assert connection_string(parse_connection(AURORA_MYSQL)).startswith(
        f"mysql://dbadmin:{PASSWORD_PLACEHOLDER}@"
    )


def test_the_texts_say_it_all_and_no_password() -> None:
    connection = parse_connection(AURORA_MYSQL)
    text = connection_text(connection)
    for value in (
        "ledger.cluster-c9akciq32",
        "Reader host:",
        "RDS Proxy host (IAM, TLS):",
        "3306",
        "MYSQL_PWD",
        "${PASSWORD}",
    ):
        assert value in text, value
    markdown = "\n".join(connection_markdown(connection))
    assert (
        "```sh" in markdown and "- Host: `ledger.cluster-c9akciq32.eu-west-1.rds.amazonaws.com`" in markdown
    )
    without_iam = Connection(**{**POSTGRES, "iam_auth": False})
    assert "generate-db-auth-token" not in connection_text(without_iam)


def test_the_policy_refuses_the_same_secret_names() -> None:
    """CKV_DBV_12 runs in checkov's venv, which cannot import engine: its copy of the pattern is ours."""
    tree = ast.parse((ROOT / "policies" / "connection_parameter_no_secret.py").read_text(encoding="utf-8"))
    (compiled,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SECRET_NAME"
    ]
    assert isinstance(compiled, ast.Call) and ast.literal_eval(compiled.args[0]) == SECRET_NAME.pattern
