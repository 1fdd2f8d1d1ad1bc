"""Root: the one place terraform/<env>/<identifier> is written and read (issue 20)."""

from __future__ import annotations

import pytest

from engine.roots import Root


def test_a_root_is_written_and_read_back() -> None:
    root = Root("dev", "orders")
    assert (root.path, str(root), root.file("main.tf")) == (
        "terraform/dev/orders",
        "terraform/dev/orders",
        "terraform/dev/orders/main.tf",
    )
    assert Root.parse(root.path) == root and Root.of("terraform/prod/ledger") == Root("prod", "ledger")


@pytest.mark.parametrize(
    "path",
    [
        "terraform/dev",
        "terraform/dev/orders/main.tf",
        "other/dev/orders",
        "terraform//orders",
        "terraform/dev/",
    ],
)
def test_what_is_not_a_root_is_refused(path: str) -> None:
    assert Root.parse(path) is None
    with pytest.raises(ValueError, match="is not a database root"):
        Root.of(path)


def test_roots_sort_by_environment_then_identifier() -> None:
    assert sorted([Root("prod", "a"), Root("dev", "b"), Root("dev", "a")]) == [
        Root("dev", "a"),
        Root("dev", "b"),
        Root("prod", "a"),
    ]
