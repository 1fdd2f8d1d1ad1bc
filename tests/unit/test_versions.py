"""Engine versions: majors as RDS counts them, minor-only differences, parameter group families."""

from __future__ import annotations

import pytest

from engine.versions import major_version, minor_only, parameter_group_family


@pytest.mark.parametrize(
    ("engine", "version", "major"),
    [
        # PostgreSQL 10 and later: the first number; before 10, the first two (AWS Database Blog, "Best
        # practices for upgrading Amazon RDS to major and minor versions of PostgreSQL").
        ("postgres", "17.4", "17"),
        ("postgres", "17", "17"),
        ("aurora-postgresql", "16.6-limitless", "16"),  # Aurora PostgreSQL Limitless Database
        ("aurora-postgresql", "16.8", "16"),
        ("postgres", "9.6.24", "9.6"),
        # MySQL and MariaDB: two numbers (8.0 to 8.4 is a major upgrade on RDS).
        ("mysql", "8.4.4", "8.4"),
        ("mysql", "8.0", "8.0"),
        ("mariadb", "10.11.10", "10.11"),
        # Aurora MySQL names the MySQL major first (Aurora MySQL release notes: 8.0.mysql_aurora.3.08.1).
        ("aurora-mysql", "8.0.mysql_aurora.3.08.1", "8.0"),
        ("aurora-mysql", "8.0", "8.0"),
    ],
)
def test_major_version(engine: str, version: str, major: str) -> None:
    assert major_version(engine, version) == major


def test_an_unknown_engine_is_named() -> None:
    with pytest.raises(ValueError, match="unknown database engine 'oracle-ee'"):
        major_version("oracle-ee", "19")


@pytest.mark.parametrize(
    ("engine", "version"),
    [("postgres", ""), ("postgres", "latest"), ("postgres", "17abc"), ("mysql", "8"), ("mysql", "v8.0")],
)
def test_what_is_no_version_is_refused(engine: str, version: str) -> None:
    with pytest.raises(ValueError, match=f"is not a {engine} engine version"):
        major_version(engine, version)


@pytest.mark.parametrize(
    ("engine", "before", "after", "expected"),
    [
        # The provider keeps a prefix while the running version extends it ("17" while 17.6 runs:
        # hashicorp/terraform-provider-aws internal/service/rds, compareActualEngineVersion).
        ("postgres", "17", "17.6", True),
        ("postgres", "17.4", "17.6", True),  # what AWS installed over a full version
        ("postgres", "17.6", "17.4", True),  # and the plan that would undo it
        ("postgres", "16.8", "17.4", False),
        ("postgres", "16.8", "17", False),
        ("postgres", "17.4", "17.4", False),
        ("mysql", "8.0.40", "8.0.41", True),
        ("mysql", "8.0.41", "8.4.4", False),
        ("aurora-mysql", "8.0.mysql_aurora.3.08.1", "8.0.mysql_aurora.3.10.0", True),
        ("aurora-postgresql", "16.6-limitless", "16.8", True),
    ],
)
def test_minor_only(engine: str, before: str, after: str, expected: bool) -> None:
    assert minor_only(engine, before, after) is expected


@pytest.mark.parametrize(
    ("engine", "version", "family"),
    [
        # terraform-aws-modules/terraform-aws-rds examples/complete-postgres: engine_version "17",
        # family "postgres17"; examples/complete-mysql: "8.0", "mysql8.0".
        ("postgres", "17", "postgres17"),
        ("postgres", "16.4", "postgres16"),
        ("mysql", "8.0", "mysql8.0"),
        ("mysql", "8.4.4", "mysql8.4"),
        # terraform-aws-modules/terraform-aws-rds-aurora examples/postgresql: "aurora-postgresql17";
        # examples/limitless: "aurora-postgresql16"; examples/mysql: "aurora-mysql8.0".
        ("aurora-postgresql", "17", "aurora-postgresql17"),
        ("aurora-postgresql", "16.9-limitless", "aurora-postgresql16"),
        ("aurora-mysql", "8.0", "aurora-mysql8.0"),
        ("aurora-mysql", "8.0.mysql_aurora.3.08.1", "aurora-mysql8.0"),
    ],
)
def test_parameter_group_family(engine: str, version: str, family: str) -> None:
    assert parameter_group_family(engine, version) == family


def test_the_family_of_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="'sqlserver-ex'"):
        parameter_group_family("sqlserver-ex", "15.00.4198.2.v1")
