"""Fixtures every test may use, unit or integration: the catalog. The ones that start something (a git
repository, checkov, PostgreSQL, moto) are in tests/integration/conftest.py."""

from __future__ import annotations

import pytest

from engine.catalog import Catalog
from engine.catalog_reader import parse_catalog
from tests.support.catalogs import NETWORKED_CATALOG


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return parse_catalog(NETWORKED_CATALOG)
