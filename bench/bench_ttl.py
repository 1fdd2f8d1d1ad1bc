"""The time-to-live sweep's reading of expiry: 100, 1,000 and 10,000 claims.

For each size: a git repository with that many database roots (their request.json, the claims)
in one commit. Timed, median of --runs: everything the sweep does before acting: every claim at
the commit read (engine.ci.claims_at: one ls-tree, one cat-file batch), each one's lease read
(engine.ttl.lease_of: JSON, never HCL) and what is due decided (engine.ttl.due). The baseline,
measured in the same run, is reading the same blobs with git alone (ls-tree + cat-file, no
parsing). Printed: ms in all, µs per claim (flat when the sweep grows linearly), and the ratio.

    python bench/bench_ttl.py [--sizes 100,1000,10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.repos import commit, git, median_ms
from engine.catalog import default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.ci import claims_at
from engine.claim import claim_from_raw
from engine.ttl import due, lease_of

ENVS = ("dev", "staging", "prod")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def build(repo: Path, size: int) -> None:
    catalog = parse_catalog(default_catalog_text())
    git(repo, "init", "-q", "-b", "main")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(size):
        raw = {"database_name": f"db{n:05d}", "database_engine": "postgres", "environment": ENVS[n % 3]}
        claim = claim_from_raw(raw, catalog, f"req-{n}", start + timedelta(minutes=n))
        directory = repo / "terraform" / claim.environment / claim.request.identifier
        directory.mkdir(parents=True)
        (directory / "request.json").write_text(claim.to_json())
    commit(repo, f"{size} claims")
    git(repo, "repack", "-adq")  # packed, as a clone in CI is (git packs by itself past ~6,700 loose)


def sweep_reading(repo: Path) -> int:
    leases = [lease_of(directory, text) for directory, text in claims_at(repo, "HEAD").items()]
    found = due(leases, NOW)
    return len(found.expired) + len(found.reminders)


def git_alone(repo: Path) -> int:
    """The same two git calls, without parsing: the blobs' ids from ls-tree, their bytes from cat-file."""
    listed = git(repo, "ls-tree", "-r", "HEAD", "--", "terraform/").splitlines()
    batch = "".join(line.split()[2] + "\n" for line in listed)
    return len(git(repo, "cat-file", "--batch", stdin=batch))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'claims':>7} {'due':>6} {'sweep ms':>9} {'us/claim':>9} {'git alone ms':>13} {'ratio':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            repo = Path(scratch)
            build(repo, size)
            count = sweep_reading(repo)
            sweep = median_ms(lambda: sweep_reading(repo), args.runs)  # noqa: B023 - used at once
            alone = median_ms(lambda: git_alone(repo), args.runs)  # noqa: B023 - used at once
        per_claim = sweep * 1000 / size
        print(f"{size:>7} {count:>6} {sweep:>9.1f} {per_claim:>9.1f} {alone:>13.1f} {sweep / alone:>6.2f}")


if __name__ == "__main__":
    main()
