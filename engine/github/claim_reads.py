"""The claims index's reads on GitHub (issue 24): the terraform tree's blob ids without any text,
blobs by id, and some roots' request.json at a commit, each one GraphQL query (per hundred blobs).

A batch asks for its blobs or paths under aliases `b0`, `b1`, ... (`f0`, ...) whose variables have
the same names; CLAIM_BLOBS_QUERY and CLAIM_FILES_QUERY are the one-item cases (the documents GitHub's
schema is checked against), blobs_query(n) and files_query(n) the same with n items."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from githubkit import GitHub

from engine.claim_index import BLOBS_PER_QUERY, batches, claim_blobs
from engine.errors import GitOpsError
from engine.github.client import graphql
from engine.github.decode import repository_of
from engine.gitops import ClaimFiles, ClaimTree
from engine.roots import Root

# terraform/ three levels deep (environment, database, file), entries' names, types and ids only:
# no `text`. Commit.file gives terraform/'s tree id at the very commit the listing is of.
CLAIM_TREE_QUERY: Final = """
query DbvendClaimTree($owner: String!, $name: String!, $ref: String!) {
  repository(owner: $owner, name: $name) {
    object(expression: $ref) {
      ... on Commit {
        oid
        file(path: "terraform") {
          oid type
          object { ... on Tree { entries { name type object {
            ... on Tree { entries { name type object {
              ... on Tree { entries { name type oid } }
            } } }
          } } } }
        }
      }
    }
  }
}
"""

CLAIM_BLOBS_QUERY: Final = """
query DbvendClaimBlobs($owner: String!, $name: String!, $b0: GitObjectID!) {
  repository(owner: $owner, name: $name) {
    b0: object(oid: $b0) { ... on Blob { oid byteSize text isTruncated } }
  }
}
"""

CLAIM_FILES_QUERY: Final = """
query DbvendClaimFiles($owner: String!, $name: String!, $commit: GitObjectID!, $f0: String!) {
  repository(owner: $owner, name: $name) {
    object(oid: $commit) {
      ... on Commit {
        oid
        terraform: file(path: "terraform") { oid }
        f0: file(path: $f0) { oid object { ... on Blob { byteSize text isTruncated } } }
      }
    }
  }
}
"""

_ALIASED: Final = re.compile(r"^(\s*)([bf])0: (.*)$", re.MULTILINE)


def _batched(document: str, count: int) -> str:
    """The one-item document with `count` aliased items (and their variables) instead of one."""
    found = _ALIASED.search(document)
    assert found is not None and count >= 1
    indent, letter, rest = found.groups()
    kind = "String" if letter == "f" else "GitObjectID"
    items = (f"{indent}{letter}{i}: " + rest.replace(f"${letter}0", f"${letter}{i}") for i in range(count))
    document = document[: found.start()] + "\n".join(items) + document[found.end() :]
    variables = ", ".join(f"${letter}{i}: {kind}!" for i in range(count))
    return document.replace(f"${letter}0: {kind}!", variables, 1)


def blobs_query(count: int) -> str:
    return _batched(CLAIM_BLOBS_QUERY, count)


def files_query(count: int) -> str:
    return _batched(CLAIM_FILES_QUERY, count)


def read_claim_tree(client: GitHub[Any], owner: str, name: str, ref: str) -> ClaimTree:
    variables = {"owner": owner, "name": name, "ref": ref}
    return claim_tree(graphql(client, CLAIM_TREE_QUERY, variables), f"{owner}/{name}", ref)


def read_blobs(client: GitHub[Any], owner: str, name: str, oids: Collection[str]) -> dict[str, str]:
    """Blobs' texts by id, a hundred per query."""
    found: dict[str, str] = {}
    for batch in batches(sorted(set(oids)), BLOBS_PER_QUERY):
        aliases = {f"b{i}": oid for i, oid in enumerate(batch)}
        data = graphql(client, blobs_query(len(batch)), {"owner": owner, "name": name, **aliases})
        found.update(blob_texts(data, f"{owner}/{name}", aliases))
    return found


def read_claim_files(
    client: GitHub[Any], owner: str, name: str, commit: str, roots: Collection[str]
) -> ClaimFiles:
    """Some roots' request.json at `commit`, a hundred per query (one query for none: the tree id)."""
    wanted: Sequence[str] = sorted(set(roots))
    result = ClaimFiles(commit, None, {})
    for batch in list(batches(wanted, BLOBS_PER_QUERY)) or [[]]:
        aliases = {f"f{i}": root for i, root in enumerate(batch)}
        paths = {alias: Root.of(root).file("request.json") for alias, root in aliases.items()}
        document = files_query(len(batch)) if batch else _without_files(CLAIM_FILES_QUERY)
        variables = {"owner": owner, "name": name, "commit": commit, **paths}
        read = claim_files(graphql(client, document, variables), f"{owner}/{name}", aliases)
        result = ClaimFiles(read.commit_oid, read.tree_oid, {**result.found, **read.found})
    return result


def _without_files(document: str) -> str:
    """CLAIM_FILES_QUERY asking for terraform/'s tree id alone."""
    return re.sub(r", \$f0: String!", "", _ALIASED.sub("", document), count=1)


# -- GitHub's answers decoded (pure) -------------------------------------------------------------


def claim_tree(data: Mapping[str, Any], full_name: str, ref: str) -> ClaimTree:
    """query DbvendClaimTree: the commit, terraform/'s tree id and each request.json's blob id."""
    commit = repository_of(data, full_name).get("object")
    if not isinstance(commit, Mapping) or not commit.get("oid"):
        raise GitOpsError(f"unknown ref {ref!r} in {full_name} (or not a commit)")
    terraform = commit.get("file")
    if not isinstance(terraform, Mapping) or terraform.get("type") != "tree":
        return ClaimTree(str(commit["oid"]), None, {})
    entries = [
        (
            str(entry.get("type")),
            str(entry.get("oid") or ""),
            f"terraform/{env.get('name')}/{db.get('name')}/{entry.get('name')}",
        )
        for env in _entries(terraform.get("object"))
        for db in _entries(env.get("object"))
        for entry in _entries(db.get("object"))
    ]
    return ClaimTree(str(commit["oid"]), str(terraform["oid"]), claim_blobs(entries))


def blob_texts(data: Mapping[str, Any], full_name: str, aliases: Mapping[str, str]) -> dict[str, str]:
    """query DbvendClaimBlobs: each alias's blob text by oid; one missing, not a blob, binary or cut
    at GitHub's limit is left out (the caller logs which)."""
    repository = repository_of(data, full_name)
    found = {oid: _blob_text(repository.get(alias)) for alias, oid in aliases.items()}
    return {oid: text for oid, text in found.items() if text is not None}


def claim_files(data: Mapping[str, Any], full_name: str, aliases: Mapping[str, str]) -> ClaimFiles:
    """query DbvendClaimFiles: the commit, terraform/'s tree id and each alias's root's request.json
    (a root whose file is absent, or unreadable as text, is left out)."""
    commit = repository_of(data, full_name).get("object")
    if not isinstance(commit, Mapping) or not commit.get("oid"):
        raise GitOpsError(f"the pushed commit is not in {full_name}")
    terraform = commit.get("terraform")
    found: dict[str, tuple[str, str]] = {}
    for alias, root in aliases.items():
        entry = commit.get(alias)
        text = _blob_text(entry.get("object")) if isinstance(entry, Mapping) else None
        if isinstance(entry, Mapping) and entry.get("oid") and text is not None:
            found[root] = (str(entry["oid"]), text)
    tree = str(terraform["oid"]) if isinstance(terraform, Mapping) and terraform.get("oid") else None
    return ClaimFiles(str(commit["oid"]), tree, found)


def _entries(tree: Any) -> list[Mapping[str, Any]]:
    """A Tree's entries; none for null, `{}` (not a tree) or anything else."""
    entries = tree.get("entries") if isinstance(tree, Mapping) else None
    return [entry for entry in entries if isinstance(entry, Mapping)] if isinstance(entries, list) else []


def _blob_text(blob: Any) -> str | None:
    """`... on Blob { text isTruncated }`: the text; None when absent, not a blob, binary or cut."""
    if not isinstance(blob, Mapping) or blob.get("isTruncated") or not isinstance(blob.get("text"), str):
        return None
    return str(blob["text"])
