"""`dbvend ci`'s selection of changed roots in repositories of 10, 100 and 1,000 database roots.

For each size: a git repository with that many rendered roots in one commit, then a commit that
changes one of them. Timed (median of --runs): engine.ci.changed_roots(base, head), which names
the roots to plan, next to the bare `git diff --name-only` it starts from (the baseline measured
in the same run). The selection must stay flat as the repository grows: only the diff's paths
are looked at.

    python bench/bench_ci.py [--sizes 10,100,1000] [--runs 9]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.repos import commit, git, median_ms
from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.ci import changed_roots
from engine.claim import claim_from_raw
from engine.render import render_claim

ENVS = ("dev", "staging", "prod")


def write_root(repo: Path, n: int, size: str = "small") -> None:
    catalog = parse_catalog(default_catalog_text())
    raw = {
        "database_name": f"db{n:04d}",
        "database_engine": "postgres",
        "environment": ENVS[n % 3],
        "size": size,
    }
    claim = claim_from_raw(raw, catalog, f"req-{n}", datetime(2026, 11, 23, tzinfo=UTC))
    directory = repo / "terraform" / claim.environment / claim.request.identifier
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in render_claim(claim).files.items():
        (directory / name).write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    print(f"{'roots':>6} {'selected':>8} {'changed_roots ms':>17} {'git diff ms':>12} {'ratio':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        selected, select, diff = measure(size, args.runs)
        print(f"{size:>6} {selected:>8} {select:>17.1f} {diff:>12.1f} {select / diff:>6.2f}")


def measure(size: int, runs: int) -> tuple[int, float, float]:
    """(roots selected, changed_roots ms, git diff ms) in a repository of `size` roots, one changed."""
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch)
        git(repo, "init", "-q", "-b", "main")
        for n in range(size):
            write_root(repo, n)
        base = commit(repo, f"{size} databases")
        write_root(repo, size // 2, size="large")
        head = commit(repo, "one changed")
        found = changed_roots(repo, base, head)
        assert len(found.changed) == 1, found
        select = median_ms(lambda: changed_roots(repo, base, head), runs)
        diff = median_ms(lambda: git(repo, "diff", "--name-only", base, head, "--", "terraform/"), runs)
    return len(found.changed), select, diff


if __name__ == "__main__":
    main()
