"""The claims index's GraphQL operations (engine/github/claim_reads.py), answered from the bare
repository: query DbvendClaimTree (terraform/ three levels deep, names, types and ids, no text),
DbvendClaimBlobs (blobs by id under aliases b0, b1, ...) and DbvendClaimFiles (paths at a commit under
aliases f0, f1, ...). An alias is its variable's name, so the variables say what is asked; the
document is not parsed. Registered in graphql.py's QUERIES."""

from __future__ import annotations

import re
from typing import Any

from tests.support.github.state import GitHubState

Variables = dict[str, Any]
OID = re.compile(r"[0-9a-f]{40}")


def claim_tree(github: GitHubState, variables: Variables, query: str) -> dict[str, Any]:
    """`object(expression: $ref) { ... on Commit { oid file(path: "terraform") { oid type object {
    ...three levels of entries, the last with `name type oid` } } } }`."""
    ref = variables.get("ref")
    found = github.git.resolve(ref) if isinstance(ref, str) else None
    if found is None:
        return {"object": None}
    commit = github.git.resolve(f"{found}^{{commit}}")
    if commit is None:
        return {"object": {}}  # a tree or a blob: `... on Commit` does not match
    return {"object": {"oid": commit, "file": _entry(github, commit, "terraform", tree_levels=3)}}


def claim_blobs(github: GitHubState, variables: Variables, query: str) -> dict[str, Any]:
    """`bN: object(oid: $bN) { ... on Blob { oid byteSize text isTruncated } }` for each $bN: null
    when there is no such object, {} when it is not a blob. One `cat-file --batch-check` and one
    `--batch` for all of them."""
    from tests.support.github.graphql import _blob_text

    asked = {name: str(oid) for name, oid in variables.items() if re.fullmatch(r"b\d+", name)}
    kinds = _kinds(github, [oid for oid in asked.values() if OID.fullmatch(oid)])
    blobs = github.git.blobs(sorted({oid for oid, kind in kinds.items() if kind == "blob"}))
    answer: dict[str, Any] = {}
    for alias, oid in asked.items():
        kind = kinds.get(oid)
        blob = {"oid": oid, **_blob_text(blobs[oid])} if kind == "blob" else {}
        answer[alias] = None if kind is None else blob
    return answer


def claim_files(github: GitHubState, variables: Variables, query: str) -> dict[str, Any]:
    """`object(oid: $commit) { ... on Commit { oid terraform: file(path: "terraform") { oid }
    fN: file(path: $fN) { oid object { ... on Blob { byteSize text isTruncated } } } } }`."""
    commit = str(variables.get("commit") or "")
    if not OID.fullmatch(commit) or github.git.commit_of_sha(commit) is None:
        return {"object": None}
    answer: dict[str, Any] = {"oid": commit, "terraform": _entry(github, commit, "terraform", tree_levels=0)}
    for alias, path in variables.items():
        if re.fullmatch(r"f\d+", alias):
            answer[alias] = _entry(github, commit, str(path), tree_levels=0)
    return {"object": answer}


def _entry(github: GitHubState, commit: str, path: str, tree_levels: int) -> dict[str, Any] | None:
    """Commit.file(path:) as a TreeEntry: null when absent; a tree's entries `tree_levels` deep."""
    from tests.support.github.graphql import _blob_text

    oid = github.git.resolve(f"{commit}:{path}")
    if oid is None:
        return None
    kind = github.git.object_type(oid)
    entry: dict[str, Any] = {"oid": oid, "type": kind, "name": path.rsplit("/", 1)[-1]}
    if kind == "blob":
        entry["object"] = {"oid": oid, **_blob_text(github.git.blob(oid))}
    elif kind == "tree":
        entry["object"] = _tree(github, oid, tree_levels) if tree_levels else {}
    return entry


def _tree(github: GitHubState, tree: str, depth: int) -> dict[str, Any]:
    """`... on Tree { entries { name type object { ... } } }` nested `depth` levels, from one
    `ls-tree -r -t`; the last level's entries `name type oid`, no object."""
    root: dict[str, Any] = {"entries": []}
    nodes: dict[tuple[str, ...], dict[str, Any]] = {(): root}
    for kind, oid, path in github.git.tree_entries(tree, recursive=True):
        parts = tuple(path.split("/"))
        if len(parts) > depth:
            continue
        entry: dict[str, Any] = {"name": parts[-1], "type": kind, "oid": oid}
        if len(parts) < depth:
            entry["object"] = None if kind == "commit" else {"entries": []} if kind == "tree" else {}
            if kind == "tree":
                nodes[parts] = entry["object"]
        nodes[parts[:-1]]["entries"].append(entry)
    return root


def _kinds(github: GitHubState, oids: list[str]) -> dict[str, str]:
    """Each existing object's type, by id, from one `cat-file --batch-check`."""
    if not oids:
        return {}
    out = github.git.run("cat-file", "--batch-check", stdin="".join(f"{oid}\n" for oid in oids).encode())
    kinds = {}
    for line in out.stdout.decode().splitlines():
        oid, _, rest = line.partition(" ")
        if rest and rest != "missing":
            kinds[oid] = rest.split(" ")[0]
    return kinds


QUERIES = {"DbvendClaimTree": claim_tree, "DbvendClaimBlobs": claim_blobs, "DbvendClaimFiles": claim_files}
