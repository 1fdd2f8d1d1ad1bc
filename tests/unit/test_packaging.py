"""pyproject.toml lists every package of engine/, so an installed (non-editable) dbvend is whole."""

from __future__ import annotations

import tomllib

from tests.support.paths import ROOT


def test_every_engine_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "engine").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk <= listed, f"missing from [tool.setuptools] packages: {sorted(on_disk - listed)}"
    mapped = config["tool"]["setuptools"]["package-dir"]
    for package in listed - on_disk:
        assert package in mapped, f"{package} is listed but neither under engine/ nor in package-dir"
        assert (ROOT / mapped[package]).is_dir()
