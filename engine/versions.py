"""RDS engine versions: their major, whether two differ only in the minor, their parameter group family."""

from __future__ import annotations

import re
from typing import Final

# PostgreSQL counts majors in its first number since 10 ("17.4" is major 17), in two before (9.6;
# AWS Database Blog, "Best practices for upgrading Amazon RDS to major and minor versions of PostgreSQL").
_POSTGRES: Final = frozenset({"postgres", "aurora-postgresql"})
# MySQL and MariaDB count majors in two numbers ("8.4.4" is major 8.4); Aurora MySQL versions start
# with the MySQL major they are compatible with ("8.0.mysql_aurora.3.08.1").
_MYSQL: Final = frozenset({"mysql", "aurora-mysql", "mariadb"})
_ENGINES: Final = _POSTGRES | _MYSQL
_LEADING: Final = re.compile(r"([0-9]+)(?:\.([0-9]+))?(?:[.-]|$)")


def major_version(engine: str, version: str) -> str:
    """The major of an engine version as RDS counts them: "17.4" -> "17", "8.0.36" -> "8.0"."""
    if engine not in _ENGINES:
        raise ValueError(f"unknown database engine {engine!r}: dbvend knows {', '.join(sorted(_ENGINES))}")
    found = _LEADING.match(version)
    if found is None:
        raise ValueError(f"{version!r} is not a {engine} engine version")
    first, second = found.group(1), found.group(2)
    if engine in _POSTGRES:
        return f"{first}.{second}" if int(first) < 10 and second is not None else first
    if second is None:
        raise ValueError(f"{version!r} is not a {engine} engine version: its major has two numbers (8.0)")
    return f"{first}.{second}"


def minor_only(engine: str, before: str, after: str) -> bool:
    """Whether two versions differ but share the major: "17.4" and "17.6", or the prefix "17" and "17.6"."""
    return before != after and major_version(engine, before) == major_version(engine, after)


def parameter_group_family(engine: str, version: str) -> str:
    """RDS's parameter group family of an engine version: "postgres17", "mysql8.0", "aurora-mysql8.0"."""
    # The engine name then its major: terraform-aws-modules/terraform-aws-rds examples/complete-postgres
    # (engine_version "17", family "postgres17") and examples/complete-mysql ("8.0", "mysql8.0");
    # terraform-aws-rds-aurora examples/postgresql ("aurora-postgresql17") and examples/mysql
    # ("aurora-mysql8.0").
    return f"{engine}{major_version(engine, version)}"
