"""engine.github.decode on what GitHub sends: REST answers from GitHub's published OpenAPI examples
(@octokit/openapi), GraphQL answers recorded in tests/data/github/ and checked against GitHub's
published schema by executing dbvend's own document over them."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from graphql import GraphQLResolveInfo, graphql_sync

from engine.commands import CheckResult
from engine.drift import DriftIssue
from engine.errors import GitOpsError, NotOpen, SignInRefused
from engine.github import decode, oauth
from engine.github.decode import RefRace
from engine.github.repository import BRANCH_MUTATION, CLAIMS_QUERY, REPOSITORY_QUERY, STATE_QUERY
from tests.support.github_schema import github_schema
from tests.support.octokit import rest_example
from tests.support.paths import GITHUB_ANSWERS

DATA = GITHUB_ANSWERS
REPO = "acme/infra"


def recorded(name: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return answer


def _by_response_key(source: Any, info: GraphQLResolveInfo, **_: Any) -> Any:
    return source.get(info.path.key) if isinstance(source, Mapping) else None


def _object_type(value: Any, *_: Any) -> str:
    """The concrete GitObject a recorded object is (GitHub would say in __typename, were it asked)."""
    keys = set(value) if isinstance(value, Mapping) else set()
    if "entries" in keys:
        return "Tree"
    if "message" in keys or keys == {"oid"}:
        return "Commit"
    return "Blob"


@pytest.mark.parametrize(
    ("document", "name", "variables"),
    [
        (
            STATE_QUERY,
            "state",
            {"owner": "acme", "name": "infra", "branch": "b", "head": "h", "catalog": "c", "claim": "c"},
        ),
        (CLAIMS_QUERY, "claims", {"owner": "acme", "name": "infra", "ref": "HEAD", "tree": "HEAD:terraform"}),
        (REPOSITORY_QUERY, "identity", {"owner": "acme", "name": "infra"}),
    ],
)
def test_the_recorded_answers_fit_githubs_schema(document: str, name: str, variables: dict[str, str]) -> None:
    """Executing dbvend's document over the recorded data through GitHub's schema gives the data back:
    every field is one the document asks for, of GitHub's type (enums, non-null, numbers)."""
    data = recorded(name)
    result = graphql_sync(
        github_schema(),
        document,
        root_value=data,
        variable_values=variables,
        field_resolver=_by_response_key,
        type_resolver=_object_type,
    )
    assert result.errors is None, [error.message for error in result.errors or ()]
    assert result.data == data


def test_a_recording_that_breaks_githubs_schema_is_caught() -> None:
    data = recorded("state")
    data["repository"]["pulls"]["nodes"][0]["state"] = "DECLINED"  # not a PullRequestState
    result = graphql_sync(
        github_schema(),
        STATE_QUERY,
        root_value=data,
        variable_values={"owner": "a", "name": "b", "branch": "b", "head": "h", "catalog": "c", "claim": "c"},
        field_resolver=_by_response_key,
        type_resolver=_object_type,
    )
    assert result.errors and "PullRequestState" in result.errors[0].message


# -- GraphQL ------------------------------------------------------------------------------------


def test_repository_state_keeps_only_this_repositorys_pull_requests() -> None:
    state = decode.repository_state(recorded("state"), REPO, claim_wanted=True)
    assert (state.main, state.repository_id, state.claim_on_main) == ("main", "R_kgDOLj1bSA", False)
    assert state.catalog_text == "environments:\n  dev: {}\n"
    assert state.branch_request == "req_01HZX5"
    # #12 is a fork's copy of the marker, #3 comes from a deleted fork: only #7 (same repository,
    # other case) is this repository's own.
    assert [(pull.number, pull.open, pull.key) for pull in state.pulls] == [(7, True, "req_01HZX5")]
    seen = state.sighting("req_01HZX5")
    assert seen.mine == 7 and seen.branch is not None and seen.branch.held_in == "in open pull request #7"
    other = state.sighting("req_other")
    assert other.mine is None and other.branch is not None and other.branch.key == "req_01HZX5"


def test_repository_state_without_a_branch_or_a_pull_request() -> None:
    data = recorded("state")
    repository = data["repository"]
    repository.update(branch=None, pulls={"nodes": []}, claim={"oid": "ab12"})
    state = decode.repository_state(data, REPO, claim_wanted=True)
    assert state.branch_oid is None and state.pulls == () and state.claim_on_main
    assert decode.repository_state(data, REPO, claim_wanted=False).claim_on_main is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda repo: repo.clear(), "not visible to the GitHub App"),
        (lambda repo: repo.update(defaultBranchRef=None), "has no default branch"),
        (lambda repo: repo.update(id=None), "named no id"),
        (lambda repo: repo["defaultBranchRef"].update(target={}), "named no commit"),
        (lambda repo: repo.update(pulls={"nodes": "none"}), "pulls.nodes is not a list"),
        (lambda repo: repo.update(branch=["main"]), "branch is not an object"),
    ],
)
def test_a_state_answer_dbvend_cannot_read_is_named(change: Any, message: str) -> None:
    data = recorded("state")
    change(data["repository"])
    with pytest.raises(GitOpsError, match=message):
        decode.repository_state(data if data["repository"] else {"repository": None}, REPO, claim_wanted=True)


def test_claims_are_the_request_files_of_database_roots() -> None:
    found = decode.claims(recorded("claims"), REPO, "HEAD")
    assert found == {
        "terraform/dev/orders": '{"name": "orders"}',
        "terraform/prod/billing": '{"name": "billing"}',
    }


def test_claims_refuse_an_unknown_ref_and_a_truncated_blob() -> None:
    data = recorded("claims")
    data["repository"]["refObject"] = None
    with pytest.raises(GitOpsError, match="unknown ref 'nope'"):
        decode.claims(data, REPO, "nope")
    data = recorded("claims")
    orders = data["repository"]["object"]["entries"][1]["object"]["entries"][0]["object"]["entries"][1]
    orders["object"].update(isTruncated=True, text=None, byteSize=600_000)
    with pytest.raises(GitOpsError, match=r"terraform/dev/orders/request.json at HEAD is too large .*600000"):
        decode.claims(data, REPO, "HEAD")


def test_claims_of_a_ref_without_a_terraform_tree_are_none() -> None:
    data = recorded("claims")
    data["repository"]["object"] = None
    assert decode.claims(data, REPO, "HEAD") == {}


def test_identity_names_the_default_branch_and_installation() -> None:
    identity = decode.identity(recorded("identity"), REPO, installation_id=42)
    assert (identity.full_name, identity.default_branch, identity.id) == (REPO, "trunk", 771234567)
    assert (
        identity.installation_id == 42 and identity.default_oid == "1f0c3e4a9b2d8c7e6f5a4b3c2d1e0f9a8b7c6d5e"
    )


def test_made_commit_and_a_mutation_that_made_none() -> None:
    assert decode.made_commit(recorded("branch_mutation"), "b") == "4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
    with pytest.raises(RefRace, match="no commit made on dbvend/dev/orders"):
        decode.made_commit({"createCommitOnBranch": None}, "dbvend/dev/orders")
    assert "createCommitOnBranch" in BRANCH_MUTATION


def test_graphql_errors_tell_a_race_from_a_refusal() -> None:
    stale = [{"type": "STALE_DATA", "message": "Expected branch to point to abc"}]
    assert isinstance(decode.graphql_refusal(stale, races=True), RefRace)
    refused = decode.graphql_refusal(stale, races=False)
    assert type(refused) is GitOpsError and "Expected branch to point to abc" in str(refused)
    exists = [{"type": "UNPROCESSABLE", "message": "A ref named refs/heads/x already exists"}]
    assert isinstance(decode.graphql_refusal(exists, races=False), RefRace)
    assert str(decode.graphql_refusal(["plain text"], races=True)) == "GitHub GraphQL refused: plain text"


# -- REST: GitHub's own examples -----------------------------------------------------------------


def test_a_pull_request_as_a_change() -> None:
    pull = rest_example("pull-request")
    pull["head"]["ref"] = "dbvend/dev/orders"
    pull["body"] = "Database dev/orders\n<!-- dbvend:request-id=req_1 -->\n"
    change = decode.change(pull)
    assert (change.id, change.status, change.branch, change.root) == (
        1347,
        "merged",
        "dbvend/dev/orders",
        "terraform/dev/orders",
    )
    assert change.request_id == "req_1" and change.description == "Database dev/orders\n"
    assert change.merge_commit == "e5bd3914e2e596debea16f433f57875b5b90bcd6"
    assert (
        change.created_at == "2011-01-26T19:01:12Z"
        and change.link == "https://github.com/octocat/Hello-World/pull/1347"
    )
    assert decode.change({**pull, "merged_at": None}).status == "open"
    assert decode.change({**pull, "merged_at": None, "state": "closed"}).status == "closed"
    assert decode.change(pull, commit="f" * 40).commit == "f" * 40


def test_own_changes_are_dbvends_branches_of_this_repository() -> None:
    listed = rest_example("pull-request-simple-items")  # octocat/Hello-World's new-topic: not dbvend's
    assert decode.own_changes(listed, "octocat/Hello-World") == []
    mine = {**listed[0], "number": 5, "body": "<!-- dbvend:request-id=req_5 -->"}
    mine["head"] = {**mine["head"], "ref": "dbvend/dev/orders"}
    fork = {
        **mine,
        "number": 6,
        "head": {**mine["head"], "repo": {**mine["head"]["repo"], "full_name": "m/Hello-World"}},
    }
    found = decode.own_changes([mine, fork, listed[0]], "octocat/hello-world")
    assert [change.id for change in found] == [5]
    assert decode.pull_of_request([fork, mine], "req_5", "octocat/Hello-World") == found[0]
    assert decode.pull_of_request([fork], "req_5", "octocat/Hello-World") is None


def test_reviews_and_check_runs() -> None:
    (review,) = decode.reviews(rest_example("pull-request-review-items"))
    assert (review.login, review.state, review.commit_id) == (
        "octocat",
        "APPROVED",
        "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091",
    )
    assert review.submitted_at == datetime(2019, 11, 17, 17, 43, 43, tzinfo=UTC)
    assert decode.check_results(rest_example("check-run-paginated")) == [
        CheckResult("mighty_readme", "completed", "neutral")
    ]


def test_roles_and_team_memberships() -> None:
    admin = rest_example("repository-collaborator-permission-response-if-user-has-admin-permissions")
    assert decode.role(admin) == "admin"
    assert decode.role({**admin, "permission": "write", "role_name": "maintain"}) == "maintain"
    assert decode.role({**admin, "permission": "read", "role_name": "custom-auditor"}) == "read"
    with pytest.raises(GitOpsError, match="no permission"):
        decode.role({"user": admin["user"]})
    assert decode.active_membership(rest_example("team-membership-response-if-user-is-a-team-maintainer"))
    pending = rest_example("team-membership-response-if-users-membership-with-team-is-now-pending")
    assert not decode.active_membership(pending)


def test_comments_found_by_their_marker() -> None:
    (comment,) = rest_example("issue-comment-items")
    parts = [
        {**comment, "id": 30, "body": "<!-- dbvend:plan part 2/2 -->\nrest"},
        {**comment, "id": 20, "body": "<!-- dbvend:plan part 1/2 -->\nfirst"},
        comment,
    ]
    assert decode.comment_with(parts, "dbvend:plan") == 30
    assert decode.comment_with([comment], "dbvend:plan") is None


def test_file_text_from_the_contents_api() -> None:
    answer = rest_example("content-file")
    with pytest.raises(GitOpsError, match=r"content of README\.md is not base64"):
        decode.file_text(answer, "README.md")  # GitHub's example holds a placeholder, not base64
    text = "environments:\n  dev: {}\n" * 10
    encoded = base64.b64encode(text.encode()).decode()
    answer["content"] = "\n".join(
        encoded[i : i + 60] for i in range(0, len(encoded), 60)
    )  # as GitHub sends it
    assert decode.file_text(answer, "README.md") == text
    assert decode.file_text([answer], "terraform") is None  # a directory's listing


def test_drift_issues_leave_pull_requests_out() -> None:
    (issue,) = rest_example("issue-items")  # GitHub's example issue is a pull request
    assert decode.drift_issues([issue]) == []
    plain = {key: value for key, value in issue.items() if key != "pull_request"}
    assert decode.drift_issues([plain]) == [DriftIssue(1347, "I'm having a problem with this.")]


def test_rest_errors_carry_githubs_message() -> None:
    error = decode.rest_error("merge pull request #4", 405, '{"message": "Pull Request is not mergeable"}')
    assert (
        isinstance(error, NotOpen)
        and str(error) == "GitHub could not merge pull request #4: 405 Pull Request is not mergeable"
    )
    error = decode.rest_error("read x", 502, "<html>bad gateway</html>")
    assert (
        type(error) is GitOpsError and str(error) == "GitHub could not read x: 502 <html>bad gateway</html>"
    )


# -- signing in with GitHub (engine.github.oauth) ------------------------------------------------


def test_the_signed_in_user_and_their_organisation_membership() -> None:
    user = rest_example("private-user-response-with-public-and-private-profile-information")
    assert oauth.user_of(user) == ("octocat", 1)
    assert oauth.user_of(rest_example("public-user-default-response")) == ("octocat", 1)
    with pytest.raises(GitOpsError, match="no login and id"):
        oauth.user_of({"login": "octocat", "id": True})
    assert oauth.active_membership(rest_example("org-membership-2"), "GitHub")  # its org is "github"
    assert not oauth.active_membership(rest_example("org-membership-2"), "acme")  # another organisation
    assert not oauth.active_membership(rest_example("org-membership"), "github")  # pending: invited only
    assert not oauth.active_membership([], "github")


def test_teams_of_the_organisation_only() -> None:
    teams = rest_example("team-full-items")  # justice-league, of the organisation "github"
    assert oauth.team_slugs(teams, "GitHub") == ["justice-league"]
    assert oauth.team_slugs(teams, "acme") == []
    assert oauth.team_slugs([{"slug": "x"}, "junk", {"organization": {"login": "github"}}], "github") == []
    with pytest.raises(GitOpsError, match="not a list"):
        oauth.team_slugs({"message": "Not Found"}, "github")


def test_the_repository_permission_is_the_strongest_flag() -> None:
    assert oauth.repository_permission(rest_example("full-repository-default-response")) == "read"
    flags = {"admin": False, "maintain": True, "push": True, "triage": True, "pull": True}
    assert oauth.repository_permission({"permissions": flags}) == "maintain"
    assert oauth.repository_permission({"permissions": {"push": True, "pull": True}}) == "write"
    assert oauth.repository_permission({"permissions": {"triage": True}}) == "triage"
    assert oauth.repository_permission({"permissions": {"pull": "yes"}}) == "none"
    assert oauth.repository_permission({"name": "infra"}) == "none"


def test_the_access_token_answer_and_githubs_refusals_in_a_200() -> None:
    documented = {
        "access_token": "ghu_16C7e42F292c6912E7710c838347Ae178B4a",
        "expires_in": 28800,
        "refresh_token": "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498",
        "refresh_token_expires_in": 15897600,
        "scope": "",
        "token_type": "bearer",
    }
    assert oauth.access_token(documented) == documented["access_token"]
    refusals = {
        "bad_verification_code": "used already or expired",
        "incorrect_client_credentials": "client id or secret",
        "redirect_uri_mismatch": "callback address",
        "unverified_user_email": "(unverified_user_email)",
    }
    for error, says in refusals.items():
        with pytest.raises(SignInRefused, match=re.escape(says)):
            oauth.access_token(
                {"error": error, "error_description": "...", "error_uri": "https://docs.github.com"}
            )
    with pytest.raises(SignInRefused, match=r"\(no token\)"):
        oauth.access_token({"error": "<script>", "access_token": "ghu_x"})  # never repeated, never used
    with pytest.raises(GitOpsError):
        oauth.access_token("access_token=ghu_x&token_type=bearer")  # form-encoded: Accept was not sent


def test_the_authorize_url_carries_the_client_id_callback_and_state() -> None:
    url = oauth.authorize_url(
        "https://github.example.com/", "Iv1.abc", "https://dbvend.example.com/auth/github/callback", "n.1.s"
    )
    assert url == (
        "https://github.example.com/login/oauth/authorize?client_id=Iv1.abc"
        "&redirect_uri=https%3A%2F%2Fdbvend.example.com%2Fauth%2Fgithub%2Fcallback&state=n.1.s"
    )


def test_read_identity_pages_through_teams_and_no_error_names_the_token() -> None:
    token, secret = "ghu_" + "t" * 36, "s" * 40
    teams = [{"slug": f"team-{n:03}", "organization": {"login": "acme"}} for n in range(105)]
    seen: list[str] = []

    def github(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["authorization"] == f"Bearer {token}"
        path, page = request.url.path, int(request.url.params.get("page", "1"))
        answers: dict[str, Any] = {
            "/user": {"login": "octocat", "id": 1},
            "/user/memberships/orgs/acme": {"state": "active", "organization": {"login": "acme"}},
            "/user/teams": teams[(page - 1) * 100 : page * 100],
        }
        return httpx.Response(200, json=answers[path]) if path in answers else httpx.Response(404, json={})

    with httpx.Client(transport=httpx.MockTransport(github)) as client:
        found = oauth.read_identity("https://api.github.example/", token, "acme", "acme/infra", client)
    assert (found.login, found.id, found.permission, len(found.teams)) == ("octocat", 1, "none", 105)
    assert sum("/user/teams?per_page=100" in url for url in seen) == 2

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url} with {request.content!r}")

    with httpx.Client(transport=httpx.MockTransport(down)) as client:
        with pytest.raises(GitOpsError) as failed:
            oauth.exchange("https://github.example/", "Iv1.abc", secret, "code", "https://d/cb", client)
        assert secret not in str(failed.value) and failed.value.__cause__ is None
        with pytest.raises(GitOpsError) as failed:
            oauth.read_identity("https://api.github.example/", token, "acme", None, client)
        assert token not in str(failed.value) and failed.value.__cause__ is None
