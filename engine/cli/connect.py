"""`dbvend connect ENV/NAME`: how to reach a database, never its password; `--exec` signs in."""

from __future__ import annotations

import json
import os
import shutil
import sys

import click

from engine.cli.support import current_settings, database_argument, err, reports_errors
from engine.connection import Connection, client_argv, connection_text, parse_connection
from engine.errors import DatabaseNotFound, DbvendError


@click.command("connect")
@click.argument("database", metavar="ENV/NAME")
@click.option(
    "--exec",
    "start_client",
    is_flag=True,
    help="Start psql or mysql signed in with a fresh IAM token, handed over in its environment "
    "(PGPASSWORD or MYSQL_PWD), never shown.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the connection details as JSON.")
@reports_errors
def connect(database: str, start_client: bool, as_json: bool) -> None:
    """Host, port, database and user of an applied database, and the commands that sign in with
    an IAM token or the master secret from Secrets Manager (the password is never printed)."""
    connection = recorded_connection(*database_argument(database))
    if start_client:
        exec_client(connection)
    elif as_json:
        click.echo(json.dumps(connection.as_dict(), indent=2))
    else:
        click.echo(connection_text(connection), nl=False)


def recorded_connection(environment: str, identifier: str) -> Connection:
    """The connection details CI recorded in the ledger when it applied the database."""
    from engine.store.ledger import Ledger

    ledger = Ledger.connect(current_settings().ledger_url)
    try:
        record = ledger.of_database(environment, identifier)
    finally:
        ledger.engine.dispose()
    if record is None:
        raise DatabaseNotFound(f"no database {environment}/{identifier}")
    if record.live_connection is None:
        raise DbvendError(
            f"{environment}/{identifier} has no connection details ({record.status}): "
            "`dbvend ci apply` records them when it applies the database"
        )
    try:
        return parse_connection(record.live_connection)
    except ValueError as exc:
        raise DbvendError(f"{environment}/{identifier}: {exc}") from None


def exec_client(connection: Connection) -> None:
    """Replace this process with psql or mysql, its password a 15-minute IAM token made by boto3
    (a presigned request, made without a call to AWS) and given only through the environment."""
    if not connection.iam_auth:
        raise DbvendError(
            "IAM authentication is off for this database: use the commands `dbvend connect` prints"
        )
    import boto3

    region = connection.region or boto3.session.Session().region_name
    if not region:
        raise DbvendError("no AWS region: set AWS_REGION (the connection details name none)")
    argv = client_argv(connection, iam=True)
    executable = shutil.which(argv[0])
    if executable is None:
        raise DbvendError(f"{argv[0]} is not installed (not found on the PATH)")
    token = boto3.client("rds", region_name=region).generate_db_auth_token(
        DBHostname=connection.host, Port=connection.port, DBUsername=connection.username, Region=region
    )
    err.print(
        f"connecting to {connection.host}:{connection.port} as {connection.username} (IAM token)",
        markup=False,
    )
    sys.stderr.flush()
    os.execve(executable, argv, {**os.environ, connection.password_variable: token})
