"""The fake GitHub's default branch (any name, HEAD on it) and pull requests from forks, via githubkit."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from githubkit import GitHub
from githubkit.exception import GraphQLFailed, RequestFailed
from githubkit_schemas.latest.models import PullRequestReview

from engine.github.repository import CLAIMS_QUERY
from tests.support import github_payloads
from tests.support.github_clients import OWNER, REPO, client, git
from tests.support.github_server import GitHubServer

BRANCH = "dbvend/dev/orders"
FORK_OWNER = "mallory"
REQUEST = "terraform/dev/orders/request.json"

REPOSITORY_QUERY = """
query DbvendRepository($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    databaseId
    nameWithOwner
    defaultBranchRef { name target { oid } }
  }
}
"""
STATE_QUERY = """
query DbvendState(
  $owner: String!, $name: String!, $branch: String!, $head: String!, $catalog: String!, $claim: String!
) {
  repository(owner: $owner, name: $name) {
    id
    databaseId
    nameWithOwner
    defaultBranchRef { name target { oid ... on Commit { tree { oid } } } }
    catalog: object(expression: $catalog) { ... on Blob { text } }
    claim: object(expression: $claim) { ... on Blob { oid } }
    branch: ref(qualifiedName: $branch) {
      name
      target { oid ... on Commit { message } }
      associatedPullRequests(first: 5, states: [OPEN, CLOSED, MERGED]) { nodes { number url state } }
    }
    pulls: pullRequests(
      headRefName: $head, first: 10, states: [OPEN, CLOSED, MERGED],
      orderBy: {field: CREATED_AT, direction: DESC}
    ) { nodes { number state isCrossRepository headRepositoryOwner { login } } }
    labels(first: 100) { nodes { id name } }
  }
}
"""


def state_variables(owner: str = OWNER) -> dict[str, str]:
    return {
        "owner": owner,
        "name": REPO,
        "branch": f"refs/heads/{BRANCH}",
        "head": BRANCH,
        "catalog": "HEAD:dbvend.yaml",
        "claim": f"HEAD:{REQUEST}",
    }


@pytest.fixture
def master(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path, owner=OWNER, repo=REPO, default_branch="master") as server:
        yield server
    assert server.server_errors == []


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubServer]:
    with GitHubServer(tmp_path, owner=OWNER, repo=REPO) as server:
        yield server
    assert server.server_errors == []


@pytest.fixture
def gh(github: GitHubServer) -> Iterator[GitHub[Any]]:
    with client(github) as github_client:
        yield github_client


@pytest.fixture
def master_gh(master: GitHubServer) -> Iterator[GitHub[Any]]:
    with client(master) as github_client:
        yield github_client


def fork_pull(github: GitHubServer, **options: Any) -> int:
    files = options.pop("files", {"claims/dev/orders.yaml": "name: orders\n"})
    return github.create_fork_pull(
        FORK_OWNER, BRANCH, title="orders from a fork", body="please", files=files, **options
    )


# -- the default branch -------------------------------------------------------------------------


def test_a_master_repository_has_no_main(master: GitHubServer, master_gh: GitHub[Any]) -> None:
    sha = master.branch_sha("master")
    assert master.default_branch == "master" and sha is not None
    assert master.branches() == {"master": sha}
    assert git(master, "symbolic-ref", "HEAD") == "refs/heads/master"
    assert git(master, "rev-parse", "HEAD:terraform") == git(master, "rev-parse", "master:terraform")
    assert [line.split(" ", 1)[1] for line in master.log()] == ["Initial commit"]
    repository = master_gh.rest.repos.get(OWNER, REPO).parsed_data
    assert (repository.default_branch, repository.id) == ("master", master.repository_id)
    with pytest.raises(RequestFailed) as no_main:
        master_gh.rest.git.get_ref(OWNER, REPO, "heads/main")
    assert no_main.value.response.status_code == 404

    readme = master_gh.rest.repos.get_content(OWNER, REPO, "terraform/README.md").parsed_data
    assert not isinstance(readme, list) and readme.url.endswith("?ref=master")
    with pytest.raises(RequestFailed) as default_kept:
        master_gh.rest.git.delete_ref(OWNER, REPO, "heads/master")
    assert default_kept.value.response.json()["message"] == "Cannot delete the default branch"


def test_requests_branch_from_and_merge_into_master(master: GitHubServer, master_gh: GitHub[Any]) -> None:
    base = master.branch_sha("master")
    head = master.commit(BRANCH, {REQUEST: "{}\n"}, "a claim")
    assert git(master, "rev-parse", f"{head}^") == base
    number = master_gh.rest.pulls.create(
        OWNER, REPO, title="orders", head=BRANCH, base="master"
    ).parsed_data.number
    pull = master_gh.rest.pulls.get(OWNER, REPO, number).parsed_data
    assert (pull.base.ref, pull.base.repo.default_branch, pull.mergeable) == ("master", "master", True)
    merged = master_gh.rest.pulls.merge(OWNER, REPO, number).parsed_data
    assert master.branch_sha("master") == merged.sha and "main" not in master.branches()
    assert master.read_file("HEAD", REQUEST) == "{}\n"


def test_state_and_repository_queries_name_the_default_branch(
    master: GitHubServer, master_gh: GitHub[Any]
) -> None:
    sha = master.branch_sha("master")
    state = master_gh.graphql(STATE_QUERY, state_variables())["repository"]
    assert state["defaultBranchRef"] == {
        "name": "master",
        "target": {"oid": sha, "tree": {"oid": git(master, "rev-parse", "master^{tree}")}},
    }
    assert state["catalog"]["text"] == master.read_file("master", "dbvend.yaml")
    assert (state["claim"], state["databaseId"], state["nameWithOwner"]) == (
        None,
        master.repository_id,
        "acme/infra",
    )

    # GitHub answers with the repository's own spelling, whatever case the query used.
    repository = master_gh.graphql(REPOSITORY_QUERY, {"owner": "ACME", "name": "Infra"})["repository"]
    assert repository == {
        "databaseId": master_gh.rest.repos.get(OWNER, REPO).parsed_data.id,
        "nameWithOwner": "acme/infra",
        "defaultBranchRef": {"name": "master", "target": {"oid": sha}},
    }
    with pytest.raises(GraphQLFailed) as unknown:
        master_gh.graphql(REPOSITORY_QUERY, {"owner": OWNER, "name": "elsewhere"})
    assert unknown.value.response.data == {"repository": None}
    errors = unknown.value.response.errors or []
    assert [(error.type, error.path) for error in errors] == [("NOT_FOUND", ["repository"])]


def test_claims_query_reads_head_on_the_default_branch(master: GitHubServer, master_gh: GitHub[Any]) -> None:
    sha = master.commit("master", {REQUEST: '{"name": "orders"}\n'}, "a claim lands")
    variables = {"owner": OWNER, "name": REPO, "ref": "HEAD", "tree": "HEAD:terraform"}
    repository = master_gh.graphql(CLAIMS_QUERY, variables)["repository"]
    assert repository["refObject"] == {"oid": sha}
    environments = {entry["name"]: entry for entry in repository["object"]["entries"]}
    assert environments["README.md"] == {"name": "README.md", "type": "blob", "object": {}}
    (database,) = environments["dev"]["object"]["entries"]
    (request,) = database["object"]["entries"]
    assert (database["name"], request["name"]) == ("orders", "request.json")
    assert json.loads(request["object"]["text"]) == {"name": "orders"}


def test_dispatch_to_a_missing_branch_answers_like_github(
    master: GitHubServer, master_gh: GitHub[Any]
) -> None:
    with pytest.raises(RequestFailed) as no_main:
        master_gh.rest.actions.create_workflow_dispatch(OWNER, REPO, "dbvend-apply.yml", ref="main")
    assert no_main.value.response.status_code == 422
    assert no_main.value.response.json() == {
        "message": "No ref found for: main",
        "documentation_url": "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event",
        "status": "422",
    }
    sha = master.branch_sha("master")
    assert sha is not None
    for refused in (sha, "refs/tags/master"):
        with pytest.raises(RequestFailed):
            master_gh.rest.actions.create_workflow_dispatch(OWNER, REPO, "dbvend-apply.yml", ref=refused)

    inputs = {"claim": REQUEST}
    for ref in ("master", "refs/heads/master"):
        dispatched = master_gh.rest.actions.create_workflow_dispatch(
            OWNER, REPO, "dbvend-apply.yml", ref=ref, inputs=inputs
        )
        assert dispatched.status_code == 204
    assert master.dispatches == [
        {"workflow_id": "dbvend-apply.yml", "ref": "master", "inputs": inputs},
        {"workflow_id": "dbvend-apply.yml", "ref": "refs/heads/master", "inputs": inputs},
    ]


def test_the_repository_id_is_the_one_webhook_payloads_carry(github: GitHubServer, gh: GitHub[Any]) -> None:
    # dbvend refuses a delivery whose repository.id is not the databaseId GitHub answers.
    payload_id = github_payloads.repository(f"{OWNER}/{REPO}")["id"]
    assert gh.rest.repos.get(OWNER, REPO).parsed_data.id == github.repository_id == payload_id
    fork = github.pull_request(fork_pull(github))["head"]["repo"]
    assert fork["id"] == github_payloads.repository(f"{FORK_OWNER}/{REPO}")["id"]


def test_an_invalid_default_branch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="branch name"):
        GitHubServer(tmp_path, default_branch="no such")


# -- pull requests from forks ---------------------------------------------------------------------


def test_a_fork_pull_lives_under_refs_pull_only(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = fork_pull(github, user="eve")
    head = git(github, "rev-parse", f"refs/pull/{number}/head")
    assert git(github, "for-each-ref", "--format=%(refname)").splitlines() == [
        "refs/heads/main",
        f"refs/pull/{number}/head",
    ]
    assert git(github, "rev-parse", f"{head}^") == github.branch_sha("main")

    pull = gh.rest.pulls.get(OWNER, REPO, number).parsed_data
    assert pull.head.repo is not None and pull.head.user is not None and pull.user is not None
    assert (pull.head.label, pull.head.ref, pull.head.sha, pull.head.user.login) == (
        f"{FORK_OWNER}:{BRANCH}",
        BRANCH,
        head,
        FORK_OWNER,
    )
    fork = pull.head.repo
    assert fork.owner is not None
    assert (fork.fork, fork.full_name, fork.owner.login, fork.owner.type) == (
        True,
        f"{FORK_OWNER}/{REPO}",
        FORK_OWNER,
        "User",
    )
    assert fork.id != github.repository_id and pull.base.repo.id == github.repository_id
    assert (pull.user.login, pull.base.ref, pull.base.repo.fork) == ("eve", "main", False)
    assert (pull.mergeable, pull.commits, pull.changed_files) == (True, 1, 1)

    with pytest.raises(ValueError, match="already exists"):
        fork_pull(github)
    with pytest.raises(ValueError, match="someone else"):
        github.create_fork_pull(OWNER, "x", title="t", body="", files={"a": "b"})


def test_rest_head_filter_needs_the_owner_graphql_head_ref_name_does_not(
    github: GitHubServer, gh: GitHub[Any]
) -> None:
    github.commit(BRANCH, {REQUEST: "{}\n"}, "our claim")
    ours = gh.rest.pulls.create(OWNER, REPO, title="ours", head=BRANCH, base="main").parsed_data.number
    theirs = fork_pull(github)

    def listed(**query: Any) -> list[int]:
        return [pull.number for pull in gh.rest.pulls.list(OWNER, REPO, **query).parsed_data]

    assert listed() == [theirs, ours]
    assert listed(head=f"{OWNER}:{BRANCH}") == listed(head=BRANCH) == [ours]
    assert listed(head=f"{FORK_OWNER}:{BRANCH}") == [theirs]

    state = gh.graphql(STATE_QUERY, state_variables())["repository"]
    selected = ("number", "state", "isCrossRepository", "headRepositoryOwner")
    assert [tuple(node[key] for key in selected) for node in state["pulls"]["nodes"]] == [
        (theirs, "OPEN", True, {"login": FORK_OWNER}),
        (ours, "OPEN", False, {"login": OWNER}),
    ]
    # The ref is ours: its associated pull requests are ours alone.
    associated = state["branch"]["associatedPullRequests"]["nodes"]
    assert [pull["number"] for pull in associated] == [ours]

    gh.rest.git.delete_ref(OWNER, REPO, f"heads/{BRANCH}")  # closes our pull, not the fork's
    assert (github.pull_request(ours)["state"], github.pull_request(theirs)["state"]) == ("closed", "open")


def test_a_fork_pull_takes_reviews_comments_checks_and_merges(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = fork_pull(github)
    head = git(github, "rev-parse", f"refs/pull/{number}/head")
    github.add_review(number, "carol", "APPROVED")
    # githubkit's PullsClient has a method named `list`, which mypy reads into its `list[...]` hints.
    reviews: Sequence[PullRequestReview] = gh.rest.pulls.list_reviews(OWNER, REPO, number).parsed_data
    assert [review.commit_id for review in reviews] == [head]
    comment = gh.rest.issues.create_comment(OWNER, REPO, number, body="<!-- dbvend -->\nplan").parsed_data
    assert comment.html_url.endswith(f"/pull/{number}#issuecomment-{comment.id}")
    # "Pushes to a branch in a forked repository are not detected": no pull_requests on its checks.
    run = gh.rest.checks.create(OWNER, REPO, name="dbvend/policy", head_sha=head).parsed_data
    assert run.pull_requests == []

    renamed = gh.rest.pulls.update(OWNER, REPO, number, title="renamed").parsed_data
    assert renamed.title == "renamed" and renamed.head.label == f"{FORK_OWNER}:{BRANCH}"
    base = github.branch_sha("main")
    merged = gh.rest.pulls.merge(OWNER, REPO, number).parsed_data
    assert git(github, "rev-list", "--parents", "-1", "main").split() == [merged.sha, base, head]
    assert git(github, "log", "-1", "--format=%s", "main") == (
        f"Merge pull request #{number} from {FORK_OWNER}/{BRANCH}"
    )
    assert github.read_file("main", "claims/dev/orders.yaml") == "name: orders\n"
    assert gh.rest.pulls.get(OWNER, REPO, number).parsed_data.merged is True


def test_a_deleted_fork_leaves_a_pull_without_head_repository(github: GitHubServer, gh: GitHub[Any]) -> None:
    number = fork_pull(github)
    github.set_head_repository_deleted(number)
    pull = gh.rest.pulls.get(OWNER, REPO, number).parsed_data
    assert (pull.head.repo, pull.head.ref, pull.state) == (None, BRANCH, "open")
    (listed,) = gh.rest.pulls.list(OWNER, REPO).parsed_data
    assert listed.head.repo is None
    node = gh.graphql(STATE_QUERY, state_variables())["repository"]["pulls"]["nodes"][0]
    assert (node["isCrossRepository"], node["headRepositoryOwner"]) == (True, None)
    github.commit("other", {"x": "y"})
    with pytest.raises(ValueError, match="not from a fork"):
        github.set_head_repository_deleted(
            gh.rest.pulls.create(OWNER, REPO, title="o", head="other", base="main").parsed_data.number
        )
