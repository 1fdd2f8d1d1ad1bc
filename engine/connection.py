"""A database's connection details, read from its root's `connection` output, and the texts that
tell people how to connect: never a password, only where to fetch one (IAM token, master secret).

Every value is checked against an allow-list before it is kept or shown, so a command built from
it is safe to paste into a shell (each word is still quoted with shlex, a no-op for such values).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

from engine.spec import ENGINES

OUTPUT_NAME: Final = "connection"  # the root's output (terraform/templates/connection.tf.j2)
# A key or value that names a secret is refused wherever connection details are read or kept.
SECRET_NAME: Final = re.compile(
    r"(?i)passw(?:or)?d|passphrase|secret_string|secret_value|private_key|token|credential"
)
PASSWORD_PLACEHOLDER: Final = "${PASSWORD}"

_HOST: Final = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*$")
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SECRET_ARN: Final = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:secret:[A-Za-z0-9/_+=.@!-]{1,512}$"
)
_RDS_HOST_REGION: Final = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d)\.rds\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class Connection:
    """Where a database answers and who may sign in; the password stays in Secrets Manager."""

    engine: str
    host: str
    port: int
    database: str
    username: str
    reader_host: str | None = None
    proxy_host: str | None = None
    master_secret_arn: str | None = None
    iam_auth: bool = False

    @property
    def is_postgres(self) -> bool:
        return self.engine.endswith("postgres") or self.engine.endswith("postgresql")

    @property
    def region(self) -> str | None:
        """The AWS region: the master secret's, else the one in an RDS host name."""
        if self.master_secret_arn and (arn := _SECRET_ARN.match(self.master_secret_arn)):
            return arn.group(1)
        found = _RDS_HOST_REGION.search(self.host)
        return found.group(1) if found else None

    @property
    def password_variable(self) -> str:
        """The environment variable the client reads its password from."""
        return "PGPASSWORD" if self.is_postgres else "MYSQL_PWD"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELDS: Final = tuple(field.name for field in fields(Connection))  # the output's keys, in order


def parse_connection(raw: Any) -> Connection:
    """Connection details from a mapping (an output's value, the ledger's JSON); ValueError naming
    the first thing wrong (never its value), and always for a key that names a secret."""
    if not isinstance(raw, Mapping):
        raise ValueError("connection details must be an object")
    secret_keys = sorted(str(key) for key in raw if SECRET_NAME.search(str(key)))
    if secret_keys:
        raise ValueError(f"connection details must hold no secret: refused key {secret_keys[0]!r}")
    unknown = sorted(set(map(str, raw)) - set(FIELDS))
    if unknown:
        raise ValueError(f"connection details have an unknown key {unknown[0]!r}")
    engine = raw.get("engine")
    if engine not in ENGINES:
        raise ValueError(f"connection engine must be one of {', '.join(ENGINES)}")
    port = raw.get("port")
    if isinstance(port, str) and port.isascii() and port.isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError("connection port must be a number from 1 to 65535")
    iam_auth = raw.get("iam_auth", False)
    if not isinstance(iam_auth, bool):
        raise ValueError("connection iam_auth must be true or false")
    return Connection(
        engine=str(engine),
        host=_checked(raw, "host", _HOST),
        port=port,
        database=_checked(raw, "database", _NAME),
        username=_checked(raw, "username", _NAME),
        reader_host=_optional(raw, "reader_host", _HOST),
        proxy_host=_optional(raw, "proxy_host", _HOST),
        master_secret_arn=_optional(raw, "master_secret_arn", _SECRET_ARN),
        iam_auth=iam_auth,
    )


def connection_or_none(details: Mapping[str, Any] | None) -> Connection | None:
    """The connection details a ledger record holds, or None: none yet, or not to be trusted (the
    ledger checks them when it keeps them, so only a hand-edited row is refused here)."""
    try:
        return None if details is None else parse_connection(details)
    except ValueError:
        return None


def connection_from_outputs(outputs: Mapping[str, Any]) -> Connection | None:
    """The `connection` output of `terraform output -json` (None when the root has none); a
    sensitive output is refused: it would be one that holds a secret."""
    output = outputs.get(OUTPUT_NAME)
    if output is None:
        return None
    if not isinstance(output, Mapping) or "value" not in output:
        raise ValueError(f"output {OUTPUT_NAME} is not terraform's output JSON")
    if output.get("sensitive"):
        raise ValueError(f"output {OUTPUT_NAME} is sensitive: connection details must hold no secret")
    return parse_connection(output["value"])


def _checked(raw: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):  # no newline before a `$`
        raise ValueError(f"connection {key} is missing or not a valid value")
    return value


def _optional(raw: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> str | None:
    return None if raw.get(key) in (None, "") else _checked(raw, key, pattern)


# -- what people read ---------------------------------------------------------------------------


def connection_facts(connection: Connection) -> list[tuple[str, str]]:
    """Label and value of each detail worth showing, in reading order."""
    facts = [
        ("Host", connection.host),
        ("Port", str(connection.port)),
        ("Database", connection.database),
        ("User", connection.username),
    ]
    if connection.reader_host:
        facts.append(("Reader host", connection.reader_host))
    if connection.proxy_host:
        facts.append(("RDS Proxy host (IAM, TLS)", connection.proxy_host))
    if connection.master_secret_arn:
        facts.append(("Master secret", connection.master_secret_arn))
    facts.append(("IAM authentication", "enabled" if connection.iam_auth else "disabled"))
    return facts


def client_argv(connection: Connection, iam: bool = False) -> list[str]:
    """psql or mysql, over TLS, reading its password from the environment (password_variable);
    `iam` when that password is an IAM token (MySQL sends it in clear text, inside TLS)."""
    if connection.is_postgres:
        conninfo = (
            f"host={connection.host} port={connection.port} dbname={connection.database} "
            f"user={connection.username} sslmode=require"
        )
        return ["psql", conninfo]
    return [
        "mysql",
        f"--host={connection.host}",
        f"--port={connection.port}",
        f"--user={connection.username}",
        "--ssl-mode=REQUIRED",
        *(["--enable-cleartext-plugin"] if iam else []),
        connection.database,
    ]


def _region_option(connection: Connection) -> list[str]:
    region = connection.region
    return ["--region", region] if region else []


def iam_token_argv(connection: Connection) -> list[str]:
    return [
        "aws",
        "rds",
        "generate-db-auth-token",
        "--hostname",
        connection.host,
        "--port",
        str(connection.port),
        "--username",
        connection.username,
        *_region_option(connection),
    ]


def iam_commands(connection: Connection) -> list[str]:
    """Shell lines: a 15-minute IAM token into the password variable, then the client."""
    token = shlex.join(iam_token_argv(connection))
    return [
        f"export {connection.password_variable}=$({token})",
        shlex.join(client_argv(connection, iam=True)),
    ]


def secret_commands(connection: Connection) -> list[str]:
    """Shell lines: the master password from its secret into the password variable (never onto a
    command line), then the client; none without a master secret. The substitution is not in
    double quotes (an assignment is not split anyway): there an interactive bash would expand the
    `!` of an RDS secret's name (`rds!db-...`) from its history, even inside single quotes."""
    if not connection.master_secret_arn:
        return []
    fetch = shlex.join(
        [
            "aws",
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            connection.master_secret_arn,
            *_region_option(connection),
            "--query",
            "SecretString",
            "--output",
            "text",
        ]
    )
    return [
        f"export {connection.password_variable}=$({fetch} | jq -r .password)",
        shlex.join(client_argv(connection)),
    ]


def connection_string(connection: Connection) -> str:
    """A URL template whose password is the placeholder ${PASSWORD}, to be filled in by the reader."""
    if connection.is_postgres:
        scheme, tls = "postgresql", "sslmode=require"
    else:
        scheme, tls = "mysql", "ssl-mode=REQUIRED"
    return (
        f"{scheme}://{connection.username}:{PASSWORD_PLACEHOLDER}@{connection.host}:{connection.port}"
        f"/{connection.database}?{tls}"
    )


IAM_HEADING: Final = "# With an IAM token, valid 15 minutes (the user needs {grant})"
IAM_GRANT: Final = {True: "GRANT rds_iam", False: "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"}
SECRET_HEADING: Final = "# With the master password from Secrets Manager (needs jq)"
STRING_HEADING: Final = "# Connection string (fill in the password)"


def connection_commands(connection: Connection) -> list[str]:
    """The ways to connect, as shell lines under comment headings."""
    heading = IAM_HEADING.format(grant=IAM_GRANT[connection.is_postgres])
    lines = [heading, *iam_commands(connection)] if connection.iam_auth else []
    if connection.master_secret_arn:
        lines += [SECRET_HEADING, *secret_commands(connection)]
    return [*lines, STRING_HEADING, connection_string(connection)]


def connection_text(connection: Connection) -> str:
    """The whole of it as plain text (`dbvend connect`)."""
    facts = connection_facts(connection)
    width = max(len(label) for label, _ in facts) + 1
    lines = [f"{label + ':':<{width}} {value}" for label, value in facts]
    for line in connection_commands(connection):
        lines += ["", line] if line.startswith("#") else [line]
    return "\n".join(lines) + "\n"


def connection_markdown(connection: Connection) -> list[str]:
    """Markdown lines for a comment, indented to sit in a list item: a heading, the facts, then the
    commands in a code block."""
    facts = [f"  - {label}: `{value}`" for label, value in connection_facts(connection)]
    commands = [f"  {line}" for line in connection_commands(connection)]
    return [
        "  How to connect (the password stays in Secrets Manager):",
        "",
        *facts,
        "",
        "  ```sh",
        *commands,
        "  ```",
    ]
