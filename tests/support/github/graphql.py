"""The GraphQL operations dbvend sends, recognised by name (`query DbvendState`) and answered from
their variables; documents are not parsed. A field the answer may leave out is answered when its
name appears in the document (more fields than asked is harmless)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

from tests.support.github import graphql_index
from tests.support.github.git import ZERO_OID
from tests.support.github.records import PullRequestRecord, node_id, pull_database_id, short_branch
from tests.support.github.rest import Call, Router
from tests.support.github.state import GitHubState

BLOB_TEXT_LIMIT = 512_000  # GraphQL Blob.text is cut here (bytes), with isTruncated: true
GRAPHQL_OPERATION = re.compile(r"\b(query|mutation)\s+(\w+)")
PULL_STATES = {"open": "OPEN", "closed": "CLOSED"}

router = Router()
Variables = dict[str, Any]


class GraphQLError(Exception):
    """A failed field: null in `data`, with an error naming its path."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def json(self, field_name: str) -> dict[str, Any]:
        return {
            "type": self.kind,
            "path": [field_name],
            "locations": [{"line": 2, "column": 3}],
            "message": self.message,
        }


def operation_name(body: Mapping[str, Any]) -> str | None:
    """A GraphQL request's operation: its operationName, else the document's first `query X` or
    `mutation X`."""
    query = body.get("query")
    names = [match.group(2) for match in GRAPHQL_OPERATION.finditer(query if isinstance(query, str) else "")]
    return body.get("operationName") or (names[0] if names else None)


def _asks(query: str, field_name: str) -> bool:
    """Whether a GraphQL document mentions a field."""
    return re.search(rf"\b{re.escape(field_name)}\b", query) is not None


def _text(data: bytes) -> str | None:
    """Blob.text: null for binary content."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


@router.route("POST", "/graphql")
def _graphql(github: GitHubState, call: Call) -> Response:
    """POST /graphql: a query about another repository is NOT_FOUND, as GitHub answers it."""
    query = call.fields.get("query")
    if not isinstance(query, str):
        return JSONResponse(
            {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
        )
    name = operation_name(call.fields)
    variables = call.fields.get("variables") or {}
    if name in QUERIES:
        unknown = _unknown_repository(github, variables)
        return JSONResponse(unknown or {"data": {"repository": QUERIES[name](github, variables, query)}})
    if name in MUTATIONS:
        return JSONResponse(_mutation(github, MUTATIONS[name], variables))
    message = f"The fake GitHub knows only {sorted([*QUERIES, *MUTATIONS])}, not {name!r}"
    return JSONResponse({"errors": [{"message": message}]})


def _unknown_repository(github: GitHubState, variables: Variables) -> dict[str, Any] | None:
    """GitHub's answer to a query naming another repository (`$owner`, `$name`), else None."""
    owner, name = variables.get("owner"), variables.get("name")
    if (str(owner).lower(), str(name).lower()) == (github.owner.lower(), github.repo.lower()):
        return None
    message = f"Could not resolve to a Repository with the name '{owner}/{name}'."
    return {"data": {"repository": None}, "errors": [GraphQLError("NOT_FOUND", message).json("repository")]}


# -- queries ------------------------------------------------------------------------------------


def _state(github: GitHubState, variables: Variables, query: str) -> dict[str, Any]:
    """query DbvendState: the default branch and its tree, the catalog's text, the claim's blob id,
    a branch with its pull requests, the repository's pull requests from a head branch, labels."""
    default = _default_branch_ref(github)
    if default is not None:
        default["target"]["tree"] = {"oid": github.git.resolve(f"{default['target']['oid']}^{{tree}}")}
    labels = [{"id": node_id("LA", label["id"]), "name": name} for name, label in github.labels.items()]
    return {
        "id": node_id("R", github.repository_id),
        **_repository_identity(github, query),
        "defaultBranchRef": default,
        "catalog": _blob_field(github, variables.get("catalog"), "text"),
        "claim": _blob_field(github, variables.get("claim"), "oid"),
        "branch": _branch_ref(github, variables.get("branch")),
        "pulls": _pulls_from(github, variables.get("head"), query),
        "labels": {"nodes": labels},
    }


def _repository(github: GitHubState, variables: Variables, query: str) -> dict[str, Any]:
    """query DbvendRepository($owner, $name): databaseId, nameWithOwner, defaultBranchRef."""
    identity = _repository_identity(github, "databaseId nameWithOwner")
    return {**identity, "defaultBranchRef": _default_branch_ref(github)}


def _claims(github: GitHubState, variables: Variables, query: str) -> dict[str, Any]:
    """query DbvendClaims($owner, $name, $ref, $tree): `refObject: object(expression: $ref) { oid }`
    and `object(expression: $tree)` as a Tree three levels deep, the third level's blobs with
    `byteSize text isTruncated`. Fragments that do not match the object's type are `{}`."""
    ref, tree = variables.get("ref"), variables.get("tree")
    ref_oid = github.git.resolve(f"{ref}^{{object}}") if isinstance(ref, str) and ref else None  # existing
    tree_oid = github.git.resolve(tree) if isinstance(tree, str) else None
    found: dict[str, Any] | None = None
    if tree_oid is not None:
        found = _tree(github, tree_oid, 3) if github.git.object_type(tree_oid) == "tree" else {}
    return {"refObject": None if ref_oid is None else {"oid": ref_oid}, "object": found}


QUERIES: dict[str, Callable[[GitHubState, Variables, str], dict[str, Any]]] = {
    "DbvendState": _state,
    "DbvendRepository": _repository,
    "DbvendClaims": _claims,
    **graphql_index.QUERIES,  # the claims index's reads (issue 24)
}


def _repository_identity(github: GitHubState, query: str) -> dict[str, Any]:
    """`databaseId` (REST's `id`) and `nameWithOwner` (as GitHub spells it, whatever the query's
    case), each when the query asks for it."""
    identity = {"databaseId": github.repository_id, "nameWithOwner": f"{github.owner}/{github.repo}"}
    return {name: value for name, value in identity.items() if _asks(query, name)}


def _default_branch_ref(github: GitHubState) -> dict[str, Any] | None:
    """`defaultBranchRef { name target { oid } }`: null in a repository without commits."""
    sha = github.branch_sha(github.default_branch)
    return None if sha is None else {"name": github.default_branch, "target": {"oid": sha}}


def _blob_field(github: GitHubState, expression: Any, selection: str) -> dict[str, Any] | None:
    """`object(expression:) { ... on Blob { text|oid } }`: null if absent, {} if not a blob."""
    oid = github.git.resolve(expression) if isinstance(expression, str) else None
    if oid is None:
        return None
    if github.git.object_type(oid) != "blob":
        return {}
    return {"oid": oid} if selection == "oid" else {"text": _text(github.git.blob(oid))}


def _tree(github: GitHubState, tree: str, depth: int) -> dict[str, Any]:
    """`... on Tree { entries { name type object { ... } } }` nested `depth` levels, read with one
    `ls-tree -r -t` and one `cat-file --batch`; the last level's blobs have text, trees are `{}`.
    Submodule entries (type commit) have object null, as on GitHub."""
    rows = [
        (path.split("/"), kind, oid)
        for kind, oid, path in github.git.tree_entries(tree, recursive=True)
        if path.count("/") < depth
    ]
    deepest = [oid for parts, kind, oid in rows if kind == "blob" and len(parts) == depth]
    blobs = github.git.blobs(deepest)
    root: dict[str, Any] = {"entries": []}
    nodes: dict[tuple[str, ...], dict[str, Any]] = {(): root}
    for parts, kind, oid in rows:
        node: dict[str, Any] | None = {}
        if kind == "commit":
            node = None
        elif kind == "tree" and len(parts) < depth:
            node = {"entries": []}
            nodes[tuple(parts)] = node
        elif kind == "blob" and len(parts) == depth:
            node = _blob_text(blobs[oid])
        nodes[tuple(parts[:-1])]["entries"].append({"name": parts[-1], "type": kind, "object": node})
    return root


def _blob_text(data: bytes) -> dict[str, Any]:
    """`... on Blob { byteSize text isTruncated }`: text is cut at BLOB_TEXT_LIMIT bytes."""
    size, text = len(data), _text(data)
    if text is not None and size > BLOB_TEXT_LIMIT:
        text = data[:BLOB_TEXT_LIMIT].decode(errors="ignore")
    return {"byteSize": size, "text": text, "isTruncated": size > BLOB_TEXT_LIMIT}


def _pull_node(github: GitHubState, pull: PullRequestRecord) -> dict[str, Any]:
    """A PullRequest's `number url state`."""
    state = "MERGED" if pull.merged_at else PULL_STATES[pull.state]
    return {"number": pull.number, "url": f"{github.web}/pull/{pull.number}", "state": state}


def _pulls_from(github: GitHubState, head: Any, query: str) -> dict[str, Any]:
    """`pullRequests(headRefName: $head, first: 10, states: [...], orderBy: CREATED_AT DESC)`.
    headRefName is the branch name alone: GitHub lists pull requests from forks whose branch has
    that name too (REST's `?head=owner:ref` does not)."""
    pulls = [p for p in github.pulls.values() if isinstance(head, str) and p.head_ref == head]
    pulls.sort(key=lambda p: p.number, reverse=True)
    return {"nodes": [_pull(github, pull, query) for pull in pulls[:10]]}


def _pull(github: GitHubState, pull: PullRequestRecord, query: str) -> dict[str, Any]:
    """A PullRequest node: number url state body, and the head's fields when the query names them."""
    owner = None if pull.head_repository_deleted else (pull.head_owner or github.owner)
    optional = {
        "databaseId": pull_database_id(pull.number),
        "headRefName": pull.head_ref,
        "headRefOid": github.current_head_sha(pull),
        "baseRefName": pull.base_ref,
        "isCrossRepository": pull.head_owner is not None,
        "headRepositoryOwner": None if owner is None else {"login": owner},
        "headRepository": None if owner is None else {"nameWithOwner": f"{owner}/{github.repo}"},
    }
    asked = {name: value for name, value in optional.items() if _asks(query, name)}
    return {**_pull_node(github, pull), "body": pull.body or "", **asked}


def _branch_ref(github: GitHubState, qualified: Any) -> dict[str, Any] | None:
    """`ref(qualifiedName:) { name target { oid message } associatedPullRequests(first: 5) }`."""
    if not isinstance(qualified, str) or not qualified:
        return None
    ref = qualified if qualified.startswith("refs/") else f"refs/heads/{qualified}"
    sha = github.git.ref_sha(ref)
    if sha is None:
        return None
    branch = short_branch(ref)
    pulls = [  # this repository's ref: pull requests from forks' same-named branches are not its own
        pull
        for pull in sorted(github.pulls.values(), key=lambda p: p.number)
        if pull.head_owner is None and pull.head_ref == branch
    ]
    return {
        "name": branch,
        "target": {"oid": sha, "message": github.git.git("log", "-1", "--format=%B", sha)},
        "associatedPullRequests": {"nodes": [_pull_node(github, pull) for pull in pulls[:5]]},
    }


# -- mutations ----------------------------------------------------------------------------------

Resolver = Callable[[GitHubState, dict[str, Any]], dict[str, Any]]


def _mutation(
    github: GitHubState, fields: tuple[tuple[str, Resolver, str], ...], variables: Variables
) -> dict[str, Any]:
    """Top-level mutation fields, each from one variable, run in order; a failed one is null with an
    error, the next still runs."""
    data: dict[str, Any] = {}
    errors = []
    for name, resolve, variable in fields:
        given = variables.get(variable)
        try:
            if not isinstance(given, dict):
                raise GraphQLError("INVALID_INPUT", f"The input of {name} was not provided.")
            data[name] = resolve(github, given)
        except GraphQLError as error:
            data[name] = None
            errors.append(error.json(name))
    return {"data": data, "errors": errors} if errors else {"data": data}


def _create_ref(github: GitHubState, given: dict[str, Any]) -> dict[str, Any]:
    """createRef(input: {repositoryId, name, oid}) { ref { name target { oid } } }"""
    if given.get("repositoryId") != node_id("R", github.repository_id):
        message = f"Could not resolve to a node with the global id of '{given.get('repositoryId')}'"
        raise GraphQLError("NOT_FOUND", message)
    name, oid = str(given.get("name", "")), str(given.get("oid", ""))
    if not github.git.valid_ref(name):
        raise GraphQLError("UNPROCESSABLE", f"{name} is not a valid ref name.")
    if github.git.commit_of_sha(oid) is None:
        raise GraphQLError("UNPROCESSABLE", f"Could not resolve to a commit with the oid '{oid}'.")
    if not github.git.update_ref(name, oid, ZERO_OID):
        raise GraphQLError("UNPROCESSABLE", f'A ref named "{name}" already exists in the repository.')
    return {"ref": {"name": short_branch(name), "target": {"oid": oid}}}


def _stale(expected: Any) -> GraphQLError:
    return GraphQLError(
        "STALE_DATA", f'Expected branch to point to "{expected}" but it did not. Pull and try again.'
    )


def _create_commit_on_branch(github: GitHubState, given: dict[str, Any]) -> dict[str, Any]:
    """createCommitOnBranch: one commit whose parent is the branch head, which must be expectedHeadOid."""
    branch, parent, message, changes = _commit_input(github, given)
    sha = github.git.commit_files(parent, changes, message, github.bot_identity)
    if not github.git.update_ref(f"refs/heads/{branch}", sha, parent):
        raise _stale(parent)
    return {"commit": {"oid": sha, "url": f"{github.web}/commit/{sha}"}}


MUTATIONS: dict[str, tuple[tuple[str, Resolver, str], ...]] = {
    "DbvendCommit": (("createCommitOnBranch", _create_commit_on_branch, "input"),),
    # createRef, then createCommitOnBranch, as GitHub runs them
    "DbvendBranch": (
        ("createRef", _create_ref, "ref"),
        ("createCommitOnBranch", _create_commit_on_branch, "commit"),
    ),
}


def _commit_input(
    github: GitHubState, given: dict[str, Any]
) -> tuple[str, str, str, dict[str, bytes | None]]:
    """(branch, parent, message, changes) from CreateCommitOnBranchInput, or a GraphQLError."""
    target = given.get("branch") or {}
    name_with_owner = str(target.get("repositoryNameWithOwner", ""))
    if name_with_owner.lower() != f"{github.owner}/{github.repo}".lower():
        raise GraphQLError(
            "NOT_FOUND", f"Could not resolve to a Repository with the name '{name_with_owner}'."
        )
    branch = short_branch(str(target.get("branchName", "")))
    head = github.git.ref_sha(f"refs/heads/{branch}") if branch else None
    if head is None:
        raise GraphQLError("NOT_FOUND", f"Could not resolve to a Ref with the name 'refs/heads/{branch}'.")
    expected = given.get("expectedHeadOid")
    if expected != head:
        raise _stale(expected)
    headline = (given.get("message") or {}).get("headline")
    if not isinstance(headline, str) or not headline.strip():
        raise GraphQLError("INVALID_INPUT", "A commit message headline is required")
    message = headline + (f"\n\n{given['message']['body']}" if given["message"].get("body") else "")
    file_changes = given.get("fileChanges") or {}
    changes: dict[str, bytes | None] = {}
    for deletion in file_changes.get("deletions") or []:
        path = _checked_path(deletion.get("path"))
        if github.git.resolve(f"{head}:{path}") is None:
            missing = f"A path was requested for deletion which does not exist as of commit oid `{head}`"
            raise GraphQLError("UNPROCESSABLE", missing)
        changes[path] = None
    for addition in file_changes.get("additions") or []:
        path = _checked_path(addition.get("path"))
        try:
            changes[path] = base64.b64decode(addition.get("contents") or "", validate=True)
        except (binascii.Error, ValueError) as error:
            raise GraphQLError("UNPROCESSABLE", f"The contents of {path} are not valid base64") from error
    return branch, head, message + "\n", changes


def _checked_path(path: Any) -> str:
    """A repository path as GitHub accepts it: relative, no empty, `.` or `..` parts, nothing under .git."""
    parts = path.split("/") if isinstance(path, str) else [""]
    if any(part in ("", ".", "..") for part in parts) or parts[0] == ".git" or "\0" in path:
        raise GraphQLError("UNPROCESSABLE", f"Invalid path: {path!r}")
    return str(path)
