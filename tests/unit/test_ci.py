"""engine/ci.py's pure rules: the roots among changed paths, and what a refused push says."""

from __future__ import annotations

import pytest

from engine.ci import branch_moved, push_refusal, roots_in


def test_roots_in_paths() -> None:
    paths = [
        "terraform/dev/orders/main.tf",
        "terraform/dev/orders/request.json",
        "terraform/prod/billing/main.tf",
        "terraform/README.md",
        "terraform/dev/orders/modules/x.tf",  # deeper than a root's own files
        "docs/terraform/dev/x/main.tf",
        "terraform/Dev/Upper/main.tf",
    ]
    assert roots_in(paths) == ["terraform/dev/orders", "terraform/prod/billing"]


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (
            "remote: Permission to acme/infra.git denied to github-actions[bot].\nfatal: unable to access"
            " 'https://github.com/acme/infra/': The requested URL returned error: 403",
            "the token may not write to the repository (a GitHub Actions job needs `contents: write`)",
        ),
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            "no credentials to push with (set GITHUB_TOKEN to a token with contents: write)",
        ),
        (
            "remote: error: GH006: Protected branch update failed for refs/heads/main.",
            "main is protected against this push",
        ),
    ],
)
def test_a_refused_push_says_why(output: str, says: str) -> None:
    assert not branch_moved(output)
    told = push_refusal("main", output)
    assert told.startswith(says) and told.endswith(output)


def test_only_a_branch_that_moved_is_fetched_and_rebased() -> None:
    assert branch_moved(" ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs")
    assert branch_moved(" ! [rejected]        HEAD -> main (non-fast-forward)")
    assert not branch_moved(" ! [remote rejected] HEAD -> main (protected branch hook declined)")
