"""The fake GitHub, driven with githubkit: its JSON parses into githubkit's models and git is real."""

from __future__ import annotations

import base64
import importlib.resources
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub
from githubkit.exception import GraphQLFailed, RequestFailed, SecondaryRateLimitExceeded

from tests.support.github_clients import OWNER, REPO, client, git
from tests.support.github_server import GitHubServer

BRANCH = "dbvend/dev/orders"
CLAIM_PATH = "claims/dev/orders.yaml"
CLAIM = "kind: postgres\nname: orders\nenvironment: dev\n"

STATE_QUERY = """
query DbvendState($owner: String!, $name: String!, $branch: String!, $catalog: String!, $claim: String!) {
  repository(owner: $owner, name: $name) {
    id
    defaultBranchRef { name target { oid ... on Commit { tree { oid } } } }
    catalog: object(expression: $catalog) { ... on Blob { text } }
    claim: object(expression: $claim) { ... on Blob { oid } }
    branch: ref(qualifiedName: $branch) {
      name
      target { oid ... on Commit { message } }
      associatedPullRequests(first: 5, states: [OPEN, CLOSED, MERGED]) { nodes { number url state } }
    }
    labels(first: 100) { nodes { id name } }
  }
}
"""
BRANCH_MUTATION = """
mutation DbvendBranch($ref: CreateRefInput!, $commit: CreateCommitOnBranchInput!) {
  createRef(input: $ref) { ref { name target { oid } } }
  createCommitOnBranch(input: $commit) { commit { oid url } }
}
"""
COMMIT_MUTATION = """
mutation DbvendCommit($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) { commit { oid url } }
}
"""


def commit_input(
    branch: str, expected: str, additions: dict[str, str], deletions: tuple[str, ...] = ()
) -> Any:
    return {
        "input": {
            "branch": {"repositoryNameWithOwner": f"{OWNER}/{REPO}", "branchName": branch},
            "expectedHeadOid": expected,
            "message": {"headline": f"dbvend: request {branch}", "body": "Requested by alice"},
            "fileChanges": {
                "additions": [
                    {"path": path, "contents": base64.b64encode(text.encode()).decode()}
                    for path, text in additions.items()
                ],
                "deletions": [{"path": path} for path in deletions],
            },
        }
    }


def state_variables(branch: str = BRANCH) -> dict[str, str]:
    return {
        "owner": OWNER,
        "name": REPO,
        "branch": f"refs/heads/{branch}",
        "catalog": "main:dbvend.yaml",
        "claim": f"refs/heads/{branch}:{CLAIM_PATH}",
    }


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path, owner=OWNER, repo=REPO) as server:
        yield server
    assert server.server_errors == []


@pytest.fixture
def gh(github: GitHubServer) -> Iterator[GitHub[Any]]:
    # Inside `with`, githubkit keeps one httpx client; outside, every call builds a new one (and
    # loads the CA bundle, ~30 ms, even for plain http).
    with client(github) as github_client:
        yield github_client


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    """(private PEM, public PEM) of the test GitHub App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def open_request(github: GitHubServer, gh: GitHub[Any]) -> int:
    """createRef + createCommitOnBranch + pulls.create, as dbvend's GitHub backend does; the PR number."""
    main = gh.rest.git.get_ref(OWNER, REPO, "heads/main").parsed_data.object_.sha
    gh.rest.git.create_ref(OWNER, REPO, ref=f"refs/heads/{BRANCH}", sha=main)
    gh.graphql(COMMIT_MUTATION, commit_input(BRANCH, main, {CLAIM_PATH: CLAIM}))
    pull = gh.rest.pulls.create(
        OWNER, REPO, title="dbvend: orders (dev)", head=BRANCH, base="main", body="plan"
    )
    return pull.parsed_data.number


# -- apps and authentication -----------------------------------------------------------------


def test_app_installation_token_is_issued_for_a_verified_jwt(
    tmp_path: Path, app_key: tuple[str, str]
) -> None:
    private, public = app_key
    with GitHubServer(tmp_path, app_public_key=public, app_id=1234, installation_id=4242) as server:
        app = client(server, auth=AppAuthStrategy(1234, private))
        installation = app.rest.apps.get_repo_installation(OWNER, REPO).parsed_data
        assert (installation.id, installation.app_id, installation.repository_selection) == (
            4242,
            1234,
            "all",
        )

        created = app.rest.apps.create_installation_access_token(4242)
        assert created.status_code == 201
        token = created.parsed_data
        assert token.token.startswith("ghs_") and token.expires_at.endswith("Z")
        assert token.repository_selection == "all" and token.permissions.contents == "write"

        installed = client(server, auth=AppInstallationAuthStrategy(1234, private, 4242))
        assert installed.rest.repos.get(OWNER, REPO).parsed_data.default_branch == "main"
        assert server.calls[-2:] == [
            ("POST", "/app/installations/4242/access_tokens"),
            ("GET", "/repos/acme/infra"),
        ]
        assert server.requests[-1].authorization == f"token {server.issued_tokens[-1]}"


def test_app_mode_refuses_foreign_keys_and_tokens(tmp_path: Path, app_key: tuple[str, str]) -> None:
    private, public = app_key
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with GitHubServer(tmp_path, app_public_key=public) as server:
        # githubkit holds its client weakly from gh.rest: keep each client in a variable.
        forger = client(server, auth=AppAuthStrategy(1234, stranger.decode()))
        with pytest.raises(RequestFailed) as forged:
            forger.rest.apps.get_repo_installation(OWNER, REPO)
        assert forged.value.response.status_code == 401
        assert forged.value.response.json()["message"] == "A JSON web token could not be decoded"
        plain = client(server)
        with pytest.raises(RequestFailed) as unknown_token:
            plain.rest.repos.get(OWNER, REPO)
        assert unknown_token.value.response.json()["message"] == "Bad credentials"
        # githubkit itself never sends the app JWT to repository endpoints; a hand-made request might.
        app_jwt = jwt.encode(
            {"iss": "1234", "iat": int(time.time()) - 60, "exp": int(time.time()) + 540}, private, "RS256"
        )
        jwt_on_repo = httpx.get(
            f"{server.url}repos/acme/infra", headers={"Authorization": f"Bearer {app_jwt}"}
        )
        assert jwt_on_repo.status_code == 401
        app = client(server, auth=AppAuthStrategy(1234, private))
        with pytest.raises(RequestFailed) as wrong_installation:
            app.rest.apps.create_installation_access_token(7)
        assert wrong_installation.value.response.status_code == 404


def test_without_a_public_key_any_well_formed_jwt_and_token_pass(
    github: GitHubServer, app_key: tuple[str, str]
) -> None:
    with client(
        github, auth=AppInstallationAuthStrategy(99, app_key[0], github.installation_id)
    ) as installed:
        assert installed.rest.pulls.list(OWNER, REPO).parsed_data == []
    assert github.calls == [
        ("POST", "/app/installations/4242/access_tokens"),
        ("GET", "/repos/acme/infra/pulls"),
    ]
    not_a_jwt = httpx.post(
        f"{github.url}app/installations/4242/access_tokens", headers={"Authorization": "Bearer x.y"}
    )
    assert not_a_jwt.status_code == 401


def test_requests_need_credentials_and_the_configured_repository(
    github: GitHubServer, gh: GitHub[Any]
) -> None:
    anonymous = httpx.get(f"{github.url}repos/acme/infra")
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"
    with pytest.raises(RequestFailed) as other_repo:
        gh.rest.repos.get(OWNER, "elsewhere")
    assert other_repo.value.response.status_code == 404
    assert other_repo.value.response.parsed_data.documentation_url == "https://docs.github.com/rest"
    with pytest.raises(RequestFailed):
        gh.rest.repos.list_branches(OWNER, REPO)
    assert github.unhandled == [("GET", "/repos/acme/infra/branches")]


# -- repository, refs, contents ----------------------------------------------------------------


def test_repository_is_seeded_with_the_catalog(github: GitHubServer, gh: GitHub[Any]) -> None:
    repository = gh.rest.repos.get(OWNER, REPO).parsed_data
    assert (repository.full_name, repository.default_branch, repository.private) == (
        "acme/infra",
        "main",
        True,
    )
    assert repository.node_id
    assert git(github, "ls-tree", "-r", "--name-only", "main").splitlines() == [
        "dbvend.yaml",
        "terraform/README.md",
    ]
    catalog = importlib.resources.files("engine.data").joinpath("dbvend.yaml").read_text()
    assert github.read_file("main", "dbvend.yaml") == catalog


def test_refs_are_created_read_and_deleted_in_the_bare_repository(
    github: GitHubServer, gh: GitHub[Any]
) -> None:
    main = gh.rest.git.get_ref(OWNER, REPO, "heads/main").parsed_data
    assert (main.ref, main.object_.type, main.object_.sha) == (
        "refs/heads/main",
        "commit",
        github.branch_sha("main"),
    )

    created = gh.rest.git.create_ref(OWNER, REPO, ref=f"refs/heads/{BRANCH}", sha=main.object_.sha)
    assert created.status_code == 201 and created.parsed_data.ref == f"refs/heads/{BRANCH}"
    assert git(github, "rev-parse", f"refs/heads/{BRANCH}") == main.object_.sha
    assert gh.rest.git.get_ref(OWNER, REPO, f"heads/{BRANCH}").parsed_data.object_.sha == main.object_.sha

    with pytest.raises(RequestFailed) as again:
        gh.rest.git.create_ref(OWNER, REPO, ref=f"refs/heads/{BRANCH}", sha=main.object_.sha)
    assert again.value.response.status_code == 422
    assert again.value.response.parsed_data.message == "Reference already exists"
    with pytest.raises(RequestFailed) as prefix_only:
        gh.rest.git.get_ref(OWNER, REPO, "heads/dbvend/dev")
    assert prefix_only.value.response.status_code == 404

    assert gh.rest.git.delete_ref(OWNER, REPO, f"heads/{BRANCH}").status_code == 204
    assert github.branches() == {"main": main.object_.sha}
    with pytest.raises(RequestFailed) as gone:
        gh.rest.git.get_ref(OWNER, REPO, f"heads/{BRANCH}")
    assert gone.value.response.status_code == 404


def test_contents_are_base64_files_and_directory_listings(github: GitHubServer, gh: GitHub[Any]) -> None:
    github.commit(BRANCH, {CLAIM_PATH: CLAIM}, "a claim")
    file = gh.rest.repos.get_content(OWNER, REPO, CLAIM_PATH, ref=BRANCH).parsed_data
    assert file.type == "file" and file.encoding == "base64" and file.path == CLAIM_PATH
    assert base64.b64decode(file.content).decode() == CLAIM
    assert file.sha == git(github, "rev-parse", f"{BRANCH}:{CLAIM_PATH}")

    listing = gh.rest.repos.get_content(OWNER, REPO, "terraform").parsed_data
    assert isinstance(listing, list) and [entry.name for entry in listing] == ["README.md"]
    with pytest.raises(RequestFailed) as absent_on_main:
        gh.rest.repos.get_content(OWNER, REPO, CLAIM_PATH)
    assert absent_on_main.value.response.status_code == 404


# -- the request flow: commit, pull request, merge ---------------------------------------------


def test_a_request_is_one_commit_on_its_branch_and_a_merge_on_main(
    github: GitHubServer, gh: GitHub[Any]
) -> None:
    main = github.branch_sha("main")
    assert main is not None
    gh.rest.git.create_ref(OWNER, REPO, ref=f"refs/heads/{BRANCH}", sha=main)
    result = gh.graphql(
        COMMIT_MUTATION, commit_input(BRANCH, main, {CLAIM_PATH: CLAIM}, ("terraform/README.md",))
    )
    commit = result["createCommitOnBranch"]["commit"]
    assert commit["url"] == f"https://github.com/acme/infra/commit/{commit['oid']}"

    assert git(github, "rev-list", f"main..{BRANCH}").splitlines() == [commit["oid"]]
    assert git(github, "rev-parse", f"{BRANCH}^") == main
    assert (
        git(github, "log", "-1", "--format=%B", BRANCH)
        == "dbvend: request dbvend/dev/orders\n\nRequested by alice"
    )
    assert git(github, "show", f"{BRANCH}:{CLAIM_PATH}") + "\n" == CLAIM
    assert git(github, "ls-tree", "-r", "--name-only", BRANCH).splitlines() == [
        "claims/dev/orders.yaml",
        "dbvend.yaml",
    ]

    created = gh.rest.pulls.create(
        OWNER, REPO, title="dbvend: orders (dev)", head=BRANCH, base="main", body="plan"
    )
    assert created.status_code == 201
    pull = created.parsed_data
    assert (pull.number, pull.state, pull.head.ref, pull.head.sha, pull.base.sha) == (
        1,
        "open",
        BRANCH,
        commit["oid"],
        main,
    )
    assert (pull.merged, pull.mergeable, pull.mergeable_state, pull.commits, pull.changed_files) == (
        False,
        True,
        "clean",
        1,
        2,
    )
    assert pull.user is not None and pull.user.login == "dbvend[bot]" and pull.user.type == "Bot"

    merged = gh.rest.pulls.merge(OWNER, REPO, pull.number).parsed_data
    assert merged.merged and merged.message == "Pull Request successfully merged"
    assert git(github, "rev-parse", "main") == merged.sha
    assert git(github, "rev-list", "--parents", "-1", "main").split() == [merged.sha, main, commit["oid"]]
    assert git(github, "log", "-1", "--format=%s", "main") == f"Merge pull request #1 from acme/{BRANCH}"
    assert github.read_file("main", CLAIM_PATH) == CLAIM
    after = gh.rest.pulls.get(OWNER, REPO, pull.number)
    assert (after.parsed_data.state, after.parsed_data.merged) == ("closed", True)
    assert after.parsed_data.merged_at is not None and after.parsed_data.merged_by is not None
    # API version 2026-03-10 dropped merge_commit_sha from githubkit's model; the JSON still has it.
    assert after.json()["merge_commit_sha"] == merged.sha


def test_state_query_answers_from_the_repository(github: GitHubServer, gh: GitHub[Any]) -> None:
    before = gh.graphql(STATE_QUERY, state_variables())["repository"]
    main = github.branch_sha("main")
    assert before["defaultBranchRef"] == {
        "name": "main",
        "target": {"oid": main, "tree": {"oid": git(github, "rev-parse", "main^{tree}")}},
    }
    assert before["catalog"]["text"] == github.read_file("main", "dbvend.yaml")
    assert (before["claim"], before["branch"], before["labels"]) == (None, None, {"nodes": []})

    number = open_request(github, gh)
    gh.rest.issues.add_labels(OWNER, REPO, number, labels=["dbvend", "env:dev"])
    during = gh.graphql(STATE_QUERY, state_variables())["repository"]
    assert during["claim"] == {"oid": git(github, "rev-parse", f"{BRANCH}:{CLAIM_PATH}")}
    assert during["branch"]["name"] == BRANCH
    assert during["branch"]["target"]["oid"] == github.branch_sha(BRANCH)
    assert during["branch"]["target"]["message"].startswith("dbvend: request")
    assert during["branch"]["associatedPullRequests"]["nodes"] == [
        {"number": 1, "url": "https://github.com/acme/infra/pull/1", "state": "OPEN"}
    ]
    assert [label["name"] for label in during["labels"]["nodes"]] == ["dbvend", "env:dev"]

    gh.rest.pulls.merge(OWNER, REPO, number)
    after = gh.graphql(STATE_QUERY, state_variables())["repository"]
    assert after["branch"]["associatedPullRequests"]["nodes"][0]["state"] == "MERGED"

    with pytest.raises(GraphQLFailed) as unknown_repo:
        gh.graphql(STATE_QUERY, {**state_variables(), "name": "other"})
    assert unknown_repo.value.response.errors is not None
    assert unknown_repo.value.response.errors[0].type == "NOT_FOUND"


def test_commit_on_branch_refuses_a_stale_head_or_a_missing_branch(
    github: GitHubServer, gh: GitHub[Any]
) -> None:
    main = github.branch_sha("main")
    assert main is not None
    github.commit(BRANCH, {"other.txt": "someone else was here\n"}, "concurrent push")
    head = github.branch_sha(BRANCH)

    with pytest.raises(GraphQLFailed) as stale:
        gh.graphql(COMMIT_MUTATION, commit_input(BRANCH, main, {CLAIM_PATH: CLAIM}))
    errors = stale.value.response.errors
    assert (
        errors is not None and errors[0].type == "STALE_DATA" and errors[0].path == ["createCommitOnBranch"]
    )
    assert stale.value.response.data == {"createCommitOnBranch": None}
    assert github.branch_sha(BRANCH) == head

    raw = httpx.post(
        f"{github.url}graphql",
        json={"query": COMMIT_MUTATION, "variables": commit_input("dbvend/nope", main, {CLAIM_PATH: CLAIM})},
        headers={"Authorization": "bearer t"},
    )
    assert raw.status_code == 200 and raw.json()["errors"][0]["type"] == "NOT_FOUND"
    assert "dbvend/nope" not in github.branches()


def test_branch_mutation_creates_the_ref_and_the_commit_in_one_call(
    github: GitHubServer, gh: GitHub[Any]
) -> None:
    main = github.branch_sha("main")
    repository_id = gh.graphql(STATE_QUERY, state_variables())["repository"]["id"]
    variables = {
        "ref": {"repositoryId": repository_id, "name": f"refs/heads/{BRANCH}", "oid": main},
        "commit": commit_input(BRANCH, str(main), {CLAIM_PATH: CLAIM})["input"],
    }
    data = gh.graphql(BRANCH_MUTATION, variables)
    assert data["createRef"] == {"ref": {"name": BRANCH, "target": {"oid": main}}}
    assert git(github, "rev-list", f"main..{BRANCH}").splitlines() == [
        data["createCommitOnBranch"]["commit"]["oid"]
    ]

    with pytest.raises(GraphQLFailed) as again:  # both fields fail; GitHub still runs the second
        gh.graphql(BRANCH_MUTATION, variables)
    assert again.value.response.data == {"createRef": None, "createCommitOnBranch": None}
    errors = again.value.response.errors or []
    assert [(error.type, error.path) for error in errors] == [
        ("UNPROCESSABLE", ["createRef"]),
        ("STALE_DATA", ["createCommitOnBranch"]),
    ]


def test_pull_request_validation_failures(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = open_request(github, gh)
    with pytest.raises(RequestFailed) as duplicate:
        gh.rest.pulls.create(OWNER, REPO, title="again", head=f"acme:{BRANCH}", base="main")
    error = duplicate.value.response.parsed_data
    assert duplicate.value.response.status_code == 422 and error.message == "Validation Failed"
    assert error.errors[0].resource == "PullRequest" and error.errors[0].code == "custom"
    assert error.errors[0].message == f"A pull request already exists for acme:{BRANCH}."

    main = github.branch_sha("main")
    assert main is not None
    gh.rest.git.create_ref(OWNER, REPO, ref="refs/heads/empty", sha=main)
    with pytest.raises(RequestFailed) as empty:
        gh.rest.pulls.create(OWNER, REPO, title="nothing", head="empty", base="main")
    assert empty.value.response.parsed_data.errors[0].message == "No commits between main and empty"
    with pytest.raises(RequestFailed) as missing_head:
        gh.rest.pulls.create(OWNER, REPO, title="nothing", head="missing", base="main")
    assert missing_head.value.response.parsed_data.errors[0].field == "head"

    gh.rest.pulls.update(OWNER, REPO, number, state="closed")
    reopened = gh.rest.pulls.create(OWNER, REPO, title="again", head=BRANCH, base="main")
    assert reopened.parsed_data.number == 2


def test_pull_requests_are_listed_filtered_and_updated(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = open_request(github, gh)
    github.commit("dbvend/prod/orders", {"claims/prod/orders.yaml": "name: orders\n"}, "prod")
    gh.rest.pulls.create(OWNER, REPO, title="prod", head="dbvend/prod/orders", base="main")

    listed = gh.rest.pulls.list(OWNER, REPO, head=f"acme:{BRANCH}", state="open").parsed_data
    assert [(pull.number, pull.head.ref, pull.head.sha) for pull in listed] == [
        (1, BRANCH, github.branch_sha(BRANCH))
    ]
    assert [pull.number for pull in gh.rest.pulls.list(OWNER, REPO).parsed_data] == [2, 1]
    assert gh.rest.pulls.list(OWNER, REPO, state="closed").parsed_data == []

    updated = gh.rest.pulls.update(
        OWNER, REPO, number, title="renamed", body="new plan", state="closed"
    ).parsed_data
    assert (updated.title, updated.body, updated.state, updated.merged) == (
        "renamed",
        "new plan",
        "closed",
        False,
    )
    assert updated.closed_at is not None and updated.mergeable is None
    assert [pull.number for pull in gh.rest.pulls.list(OWNER, REPO, state="closed").parsed_data] == [1]
    assert github.pull_request(number)["title"] == "renamed"


def test_a_conflicting_pull_request_is_not_mergeable(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = open_request(github, gh)
    github.commit("main", {CLAIM_PATH: "name: somebody-else\n"}, "conflicting claim on main")
    pull = gh.rest.pulls.get(OWNER, REPO, number).parsed_data
    assert (pull.mergeable, pull.mergeable_state) == (False, "dirty")
    main = github.branch_sha("main")
    with pytest.raises(RequestFailed) as refused:
        gh.rest.pulls.merge(OWNER, REPO, number)
    assert refused.value.response.status_code == 405
    assert refused.value.response.parsed_data.message == "Pull Request is not mergeable"
    assert github.branch_sha("main") == main

    github.set_mergeable(number, None)
    pull = gh.rest.pulls.get(OWNER, REPO, number).parsed_data
    assert (pull.mergeable, pull.mergeable_state) == (None, "unknown")


# -- reviews, labels, comments, reactions, permissions -----------------------------------------


def test_reviews_labels_comments_and_reactions(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = open_request(github, gh)
    github.add_review(number, "bob", "CHANGES_REQUESTED")
    github.add_review(number, "carol", "APPROVED")
    reviews = gh.rest.pulls.list_reviews(OWNER, REPO, number).parsed_data
    assert [(r.user.login if r.user else None, r.state) for r in reviews] == [
        ("bob", "CHANGES_REQUESTED"),
        ("carol", "APPROVED"),
    ]
    assert reviews[1].commit_id == github.branch_sha(BRANCH)

    labels = gh.rest.issues.add_labels(OWNER, REPO, number, labels=["dbvend"]).parsed_data
    labels = gh.rest.issues.add_labels(OWNER, REPO, number, labels=["dbvend", "env:dev"]).parsed_data
    assert [label.name for label in labels] == ["dbvend", "env:dev"]
    assert [label.name for label in gh.rest.pulls.get(OWNER, REPO, number).parsed_data.labels] == [
        "dbvend",
        "env:dev",
    ]

    created = gh.rest.issues.create_comment(OWNER, REPO, number, body="<!-- dbvend:plan -->\nplan: 1 to add")
    assert created.status_code == 201
    comment = created.parsed_data
    edited = gh.rest.issues.update_comment(
        OWNER, REPO, comment.id, body="<!-- dbvend:plan -->\nplan: 2 to add"
    )
    assert edited.parsed_data.body == "<!-- dbvend:plan -->\nplan: 2 to add"
    human = github.add_comment(number, "alice", "/dbvend apply")
    listed = gh.rest.issues.list_comments(OWNER, REPO, number).parsed_data
    assert [(c.id, c.user.login if c.user else None) for c in listed] == [
        (comment.id, "dbvend[bot]"),
        (human["id"], "alice"),
    ]
    assert github.comment_bodies(number) == ["<!-- dbvend:plan -->\nplan: 2 to add", "/dbvend apply"]
    with pytest.raises(RequestFailed) as not_ours:
        gh.rest.issues.update_comment(OWNER, REPO, human["id"], body="edited")
    assert not_ours.value.response.status_code == 403

    reaction = gh.rest.reactions.create_for_issue_comment(OWNER, REPO, human["id"], content="eyes")
    assert reaction.status_code == 201 and reaction.parsed_data.content == "eyes"
    repeated = gh.rest.reactions.create_for_issue_comment(OWNER, REPO, human["id"], content="eyes")
    assert repeated.status_code == 200 and repeated.parsed_data.id == reaction.parsed_data.id
    assert [(r["comment_id"], r["content"]) for r in github.reactions] == [(human["id"], "eyes")]
    unchecked = client(github, rest_api_validate_body=False)  # githubkit validates bodies before sending
    with pytest.raises(RequestFailed) as bad_content:
        unchecked.rest.reactions.create_for_issue_comment(OWNER, REPO, human["id"], content="wave")  # type: ignore[arg-type]
    assert bad_content.value.response.status_code == 422


def test_plain_issues_take_comments_and_labels(github: GitHubServer, gh: GitHub[Any]) -> None:
    issue = github.create_issue("[database] orders", "engine: postgres", user="alice")
    comment = gh.rest.issues.create_comment(OWNER, REPO, issue, body="<!-- dbvend -->\naccepted").parsed_data
    assert comment.html_url == f"https://github.com/acme/infra/issues/{issue}#issuecomment-{comment.id}"
    assert [
        label.name for label in gh.rest.issues.add_labels(OWNER, REPO, issue, labels=["dbvend"]).parsed_data
    ] == ["dbvend"]
    assert github.comment_bodies(issue) == ["<!-- dbvend -->\naccepted"]
    with pytest.raises(RequestFailed) as not_a_pull:
        gh.rest.pulls.get(OWNER, REPO, issue)
    assert not_a_pull.value.response.status_code == 404


def test_comments_paginate_with_link_headers(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = open_request(github, gh)
    for index in range(5):
        github.add_comment(number, "alice", f"comment {index}")
    first = gh.rest.issues.list_comments(OWNER, REPO, number, per_page=2)
    assert 'rel="next"' in first.headers["link"]
    # paginate(request, map_func, *args): the request's arguments must be passed by keyword.
    pages = gh.rest.paginate(
        gh.rest.issues.list_comments, owner=OWNER, repo=REPO, issue_number=number, per_page=2
    )
    bodies = [comment.body for comment in pages]
    assert bodies == [f"comment {index}" for index in range(5)]


def test_collaborator_permissions(github: GitHubServer, gh: GitHub[Any]) -> None:
    github.set_permission("alice", "admin")
    github.set_permission("bob", "maintain")
    github.set_permission("mallory", "none")
    answers = {}
    for user in ("alice", "bob", "mallory", "stranger"):
        level = gh.rest.repos.get_collaborator_permission_level(OWNER, REPO, user).parsed_data
        assert level.user is not None and level.user.login == user
        answers[user] = (level.permission, level.role_name)
    assert answers == {
        "alice": ("admin", "admin"),
        "bob": ("write", "maintain"),
        "mallory": ("none", "none"),
        "stranger": ("read", "read"),
    }


# -- checks and actions ------------------------------------------------------------------------


def warning_annotations(count: int) -> list[dict[str, Any]]:
    return [
        {
            "path": "main.tf",
            "start_line": i + 1,
            "end_line": i + 1,
            "annotation_level": "warning",
            "message": f"w{i}",
        }
        for i in range(count)
    ]


def test_check_runs_keep_annotations_and_refuse_more_than_50(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = open_request(github, gh)
    head = github.branch_sha(BRANCH)
    assert head is not None
    created = gh.rest.checks.create(OWNER, REPO, name="dbvend/policy", head_sha=head, status="in_progress")
    assert created.status_code == 201
    run = created.parsed_data
    assert (run.status, run.conclusion, [pull.number for pull in run.pull_requests]) == (
        "in_progress",
        None,
        [number],
    )

    output = {"title": "Policy", "summary": "2 findings", "annotations": warning_annotations(50)}
    run = gh.rest.checks.update(OWNER, REPO, run.id, output=output).parsed_data  # type: ignore[arg-type]
    # githubkit refuses 51 annotations itself (maxItems in its body model): send them unchecked.
    unchecked = client(github, rest_api_validate_body=False)
    with pytest.raises(RequestFailed) as too_many:
        output = {"title": "Policy", "summary": "more", "annotations": warning_annotations(51)}
        unchecked.rest.checks.update(OWNER, REPO, run.id, output=output)  # type: ignore[arg-type]
    assert too_many.value.response.status_code == 422
    assert "50 annotations" in too_many.value.response.json()["errors"][0]["message"]
    output = {"title": "Policy", "summary": "done", "annotations": warning_annotations(3)}
    run = gh.rest.checks.update(OWNER, REPO, run.id, conclusion="failure", output=output).parsed_data  # type: ignore[arg-type]
    assert (run.status, run.conclusion, run.output.summary, run.output.annotations_count) == (
        "completed",
        "failure",
        "done",
        53,
    )
    assert run.completed_at is not None

    github.set_check(head, "ci/terraform-validate", "success")
    listed = gh.rest.checks.list_for_ref(OWNER, REPO, BRANCH).parsed_data
    assert listed.total_count == 2
    assert {(r.name, r.conclusion) for r in listed.check_runs} == {
        ("dbvend/policy", "failure"),
        ("ci/terraform-validate", "success"),
    }
    only = gh.rest.checks.list_for_ref(OWNER, REPO, head, check_name="ci/terraform-validate").parsed_data
    assert [(r.name, r.app.slug if r.app else None) for r in only.check_runs] == [
        ("ci/terraform-validate", "github-actions")
    ]


def test_workflow_dispatches_are_recorded(github: GitHubServer, gh: GitHub[Any]) -> None:
    inputs = {"claim": CLAIM_PATH, "action": "apply"}
    dispatched = gh.rest.actions.create_workflow_dispatch(
        OWNER, REPO, "dbvend-apply.yml", ref="main", inputs=inputs
    )
    assert dispatched.status_code == 204
    assert github.dispatches == [{"workflow_id": "dbvend-apply.yml", "ref": "main", "inputs": inputs}]
    with pytest.raises(RequestFailed) as unknown_ref:
        gh.rest.actions.create_workflow_dispatch(OWNER, REPO, "dbvend-apply.yml", ref="nope")
    assert unknown_ref.value.response.status_code == 422
    assert len(github.dispatches) == 1


# -- faults and call counting ------------------------------------------------------------------


def test_injected_server_errors_are_returned_then_cleared(github: GitHubServer, gh: GitHub[Any]) -> None:
    github.fail("POST", r"/repos/acme/infra/pulls", 502)
    github.fail("*", r"/graphql", 502, times=2, body="<html>bad gateway</html>")
    github.commit(BRANCH, {CLAIM_PATH: CLAIM}, "claim")
    with pytest.raises(RequestFailed) as bad_gateway:
        gh.rest.pulls.create(OWNER, REPO, title="t", head=BRANCH, base="main")
    assert bad_gateway.value.response.status_code == 502
    assert bad_gateway.value.response.json()["message"] == "Server Error"
    assert gh.rest.pulls.create(OWNER, REPO, title="t", head=BRANCH, base="main").status_code == 201

    for _ in range(2):
        with pytest.raises(RequestFailed) as graphql_down:
            gh.graphql(STATE_QUERY, state_variables())
        assert graphql_down.value.response.status_code == 502
        assert graphql_down.value.response.text == "<html>bad gateway</html>"
    assert gh.graphql(STATE_QUERY, state_variables())["repository"]["branch"]["name"] == BRANCH
    assert github.count("POST", "/repos/acme/infra/pulls") == 2
    assert github.count("POST", "/graphql") == 3


def test_injected_rate_limits_carry_retry_after(github: GitHubServer, gh: GitHub[Any]) -> None:
    github.fail("GET", r"/repos/acme/infra/git/ref/.*", 403, headers={"Retry-After": "1"})
    with pytest.raises(SecondaryRateLimitExceeded) as limited:
        gh.rest.git.get_ref(OWNER, REPO, "heads/main")
    assert limited.value.retry_after == timedelta(seconds=1)
    assert limited.value.response.headers["retry-after"] == "1"
    assert "secondary rate limit" in limited.value.response.json()["message"]

    github.fail("GET", r"/repos/acme/infra", 429, headers={"Retry-After": "1"}, body={"message": "slow down"})
    retrying = client(github, auto_retry=True)
    assert retrying.rest.repos.get(OWNER, REPO).parsed_data.name == REPO  # githubkit waited 1 s and retried
    assert github.calls.count(("GET", "/repos/acme/infra")) == 2
    assert github.faults[-1].remaining == 0
