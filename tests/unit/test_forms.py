"""The issue form: the YAML and engine/forms.py agree, and rendered or edited bodies parse."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml

from engine.catalog import Catalog, default_catalog_text
from engine.catalog_reader import parse_catalog
from engine.errors import FieldError, InvalidRequest
from engine.forms import (
    FORM_FIELDS,
    LABELS,
    field_error_lines,
    parse_issue_form,
    render_issue_body,
    request_fields,
)
from engine.spec import ENGINES, FIELDS, SIZES, parse_request
from tests.support.paths import ROOT

FORM_FILE = ROOT / "workflows" / "ISSUE_TEMPLATE" / "database.yml"

COMPLETE = {
    "database_name": "orders_service",
    "database_engine": "aurora-postgresql",
    "environment": "staging",
    "size": "medium",
    "ttl": "14d",
    "owner": "octocat",
    "team": "payments",
    "reason": "Load tests for the new checkout flow.",
}
REQUIRED_ONLY = {"database_name": "orders", "database_engine": "postgres", "environment": "dev"}


@cache
def form() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(FORM_FILE.read_text(encoding="utf-8"))
    return loaded


def elements() -> list[dict[str, Any]]:
    return [e for e in form()["body"] if e["type"] != "markdown"]


def options(element_id: str) -> tuple[str, ...]:
    (element,) = (e for e in elements() if e["id"] == element_id)
    return tuple(element["attributes"]["options"])


def body_from_yaml(answers: dict[str, str]) -> str:
    """A body built from the YAML's own labels the way GitHub writes it, not through engine.forms."""
    parts = []
    for element in elements():
        value = answers.get(element["id"]) or ("None" if element["type"] == "dropdown" else "_No response_")
        parts.append(f"### {element['attributes']['label']}\n\n{value}\n\n")
    return "".join(parts)


def no_errors_with(fields: dict[str, str], body: str) -> None:
    result = parse_issue_form(body)
    assert result.errors == []
    assert result.fields == fields


# --- the form file ---------------------------------------------------------------------


def test_form_header() -> None:
    assert form()["name"] == "Database request"
    assert form()["description"]
    assert form()["title"] == "[database] "
    assert form()["labels"] == ["database-request"]


def test_form_elements_match_the_parser() -> None:
    in_yaml = [
        (e["id"], e["attributes"]["label"], e["type"], e.get("validations", {}).get("required", False))
        for e in elements()
    ]
    assert in_yaml == [(f.field, f.label, f.kind, f.required) for f in FORM_FIELDS]


def test_form_ids_are_request_fields() -> None:
    assert set(LABELS) <= set(FIELDS)
    assert list(LABELS) == [
        "database_name",
        "database_engine",
        "environment",
        "size",
        "ttl",
        "owner",
        "team",
        "restore_from",
        "reason",
    ]


def test_dropdowns_offer_what_the_spec_and_catalog_accept() -> None:
    catalog: Catalog = parse_catalog(default_catalog_text())
    assert options("database_engine") == ENGINES
    assert options("environment") == tuple(catalog.environments)
    assert options("size") == SIZES
    # GitHub writes "None" for an empty dropdown, so no option may be called that.
    assert all("None" not in options(e["id"]) for e in elements() if e["type"] == "dropdown")


# --- render_issue_body --------------------------------------------------------------------


def test_render_matches_a_body_built_from_the_yaml() -> None:
    assert render_issue_body(COMPLETE) == body_from_yaml(COMPLETE)
    assert render_issue_body(REQUIRED_ONLY) == body_from_yaml(REQUIRED_ONLY)


def test_render_writes_githubs_no_answer_markers() -> None:
    body = render_issue_body({**REQUIRED_ONLY, "team": None, "reason": "  "})
    assert "### Size\n\nNone\n\n" in body
    assert "### Team\n\n_No response_\n\n" in body
    assert body.endswith("### Reason\n\n_No response_\n\n")


def test_render_refuses_fields_the_form_lacks() -> None:
    with pytest.raises(ValueError, match="storage_gb"):
        render_issue_body({**REQUIRED_ONLY, "storage_gb": "20"})


# --- parse_issue_form ---------------------------------------------------------------------


def test_complete_form_round_trips() -> None:
    no_errors_with(COMPLETE, render_issue_body(COMPLETE))


def test_unanswered_optional_fields_are_absent() -> None:
    no_errors_with(REQUIRED_ONLY, render_issue_body(REQUIRED_ONLY))


def test_complete_form_is_a_valid_request(catalog: Catalog) -> None:
    request = parse_request(parse_issue_form(render_issue_body(COMPLETE)).fields, catalog)
    assert request.database_name == "orders_service"
    assert request.identifier == "orders-service"
    assert (request.database_engine, request.environment, request.size) == (
        "aurora-postgresql",
        "staging",
        "medium",
    )
    assert (request.ttl, request.owner, request.team) == ("14d", "octocat", "payments")


def test_required_only_form_is_a_valid_request(catalog: Catalog) -> None:
    request = parse_request(parse_issue_form(render_issue_body(REQUIRED_ONLY)).fields, catalog)
    assert request.size == "small"


def test_bad_answers_reach_the_spec_as_field_errors(catalog: Catalog) -> None:
    fields = parse_issue_form(render_issue_body({**REQUIRED_ONLY, "ttl": "forever", "team": "a|b"})).fields
    with pytest.raises(InvalidRequest) as raised:
        parse_request(fields, catalog)
    assert raised.value.fields == {"ttl", "team"}


def test_crlf_body() -> None:
    no_errors_with(COMPLETE, render_issue_body(COMPLETE).replace("\n", "\r\n"))


def test_empty_required_fields_are_field_errors() -> None:
    result = parse_issue_form(render_issue_body({"owner": "octocat"}))
    assert result.fields == {"owner": "octocat"}
    assert result.errors == [
        FieldError("database_name", "is required"),
        FieldError("database_engine", "is required"),
        FieldError("environment", "is required"),
    ]
    assert not result.ok


@pytest.mark.parametrize("body", ["", "   \n\n", "Just some text, no form.", "### \n###\n#"])
def test_anything_else_is_every_required_field_missing(body: str) -> None:
    result = parse_issue_form(body)
    assert result.fields == {}
    assert {e.field for e in result.errors} == {"database_name", "database_engine", "environment"}


def test_none_is_empty_only_for_a_dropdown() -> None:
    body = render_issue_body({**REQUIRED_ONLY, "team": "None"})
    assert "### Size\n\nNone" in body
    no_errors_with({**REQUIRED_ONLY, "team": "None"}, body)


def test_extra_whitespace_and_blank_lines() -> None:
    body = (
        "\n\n###   Database name   \n\n\n   orders   \n\n\n"
        "### Database engine\t\n \t\npostgres\n"
        "### Environment ###\n\n  dev\n\n\n\n"
        "### Reason\n\n\n  first line\n\n  second line  \n\n\n\n"
    )
    no_errors_with({**REQUIRED_ONLY, "reason": "first line\n\n  second line"}, body)


def test_reason_keeps_headings_that_are_not_form_labels() -> None:
    reason = "Context:\n\n### Background\n\nWe need it.\n\n#### Details\nmore"
    no_errors_with({**COMPLETE, "reason": reason}, render_issue_body({**COMPLETE, "reason": reason}))


def test_reason_keeps_headings_that_repeat_form_labels() -> None:
    reason = "Copied from the old ticket:\n\n### Database name\n\nlegacy\n\n### Environment\n\nprod"
    no_errors_with({**COMPLETE, "reason": reason}, render_issue_body({**COMPLETE, "reason": reason}))


def test_reason_with_code_fences() -> None:
    reason = (
        "Run this:\n\n```sql\n### Team\nSELECT 1;\n```\n\n~~~~\n### Owner\n```\nstill inside\n~~~~\nand done"
    )
    no_errors_with(
        {**REQUIRED_ONLY, "reason": reason}, render_issue_body({**REQUIRED_ONLY, "reason": reason})
    )


def test_headings_inside_a_fence_never_split_even_when_reordered() -> None:
    body = (
        "### Reason\n\n```\n### Database name\n\nhijacked\n```\n\n"
        "### Environment\n\ndev\n\n### Database engine\n\npostgres\n\n### Database name\n\norders\n"
    )
    no_errors_with({**REQUIRED_ONLY, "reason": "```\n### Database name\n\nhijacked\n```"}, body)


def test_a_backtick_typed_into_an_input_is_not_a_fence() -> None:
    answers = {**REQUIRED_ONLY, "team": "```", "reason": "why"}
    assert parse_issue_form(render_issue_body(answers)).fields == answers


def test_reordered_sections() -> None:
    sections = render_issue_body(COMPLETE).split("### ")[1:]
    no_errors_with(COMPLETE, "".join("### " + s for s in reversed(sections)))


def test_missing_optional_sections() -> None:
    body = "### Environment\n\nprod\n\n### Database name\n\norders\n\n### Database engine\n\nmysql"
    no_errors_with({**REQUIRED_ONLY, "environment": "prod", "database_engine": "mysql"}, body)


def test_missing_required_section() -> None:
    result = parse_issue_form("### Database name\n\norders\n\n### Environment\n\ndev\n")
    assert result.fields == {"database_name": "orders", "environment": "dev"}
    assert result.errors == [FieldError("database_engine", "is required")]


def test_unknown_sections_are_ignored() -> None:
    body = (
        "Thanks for filling this in!\n\n"
        "### Database name\n\norders\n\n"
        "### Cost centre\n\nCC-1234\n\n"
        "### Database engine\n\npostgres\n\n"
        "## Notes\n\n"
        "### Environment\n\ndev\n\n"
        "### Checklist\n\n- [x] I read the docs\n\n"
        "### Team\n\npayments\n"
    )
    no_errors_with({**REQUIRED_ONLY, "team": "payments"}, body)


def test_headings_match_labels_exactly() -> None:
    body = render_issue_body(REQUIRED_ONLY).replace("### Environment", "### environment")
    assert parse_issue_form(body).errors == [FieldError("environment", "is required")]


def test_an_edited_body_parses_the_same_way() -> None:
    # Editing in the browser sends the body back with CRLF; here the requester changed
    # the environment, answered the team and wrote a two-line reason.
    edited = (
        render_issue_body(COMPLETE)
        .replace("### Environment\n\nstaging", "### Environment\n\ndev")
        .replace("### Team\n\npayments", "### Team\n\n  checkout  ")
        .replace(COMPLETE["reason"], COMPLETE["reason"] + "\nAlso: a demo on Friday.")
        .replace("\n", "\r\n")
    )
    expected = {
        **COMPLETE,
        "environment": "dev",
        "team": "checkout",
        "reason": COMPLETE["reason"] + "\nAlso: a demo on Friday.",
    }
    no_errors_with(expected, edited)


def test_no_response_marker_left_in_an_edited_body_is_still_empty() -> None:
    body = render_issue_body(REQUIRED_ONLY).replace("_No response_", "  _No response_  ")
    no_errors_with(REQUIRED_ONLY, body)


def test_parsing_is_linear_on_hostile_bodies() -> None:
    # Many headings, fences and markers: still a quick answer, never an exception.
    body = ("### Reason\n" + "```\n### Team\n" * 20_000) + "### " * 50_000
    result = parse_issue_form(body)
    assert set(result.fields) == {"reason", "team"}


def test_restore_from_is_written_as_on_the_command_line() -> None:
    body = render_issue_body(
        {
            "database_name": "orders",
            "database_engine": "postgres",
            "environment": "dev",
            "restore_from": "prod/orders:final",
        }
    )
    fields = request_fields(parse_issue_form(body).fields)
    assert fields["restore_from"] == {"database": "prod/orders", "snapshot": "final"}
    later = request_fields({"restore_from": "prod/orders@2026-12-01T10:00:00Z"})
    assert later["restore_from"] == {"database": "prod/orders", "point_in_time": "2026-12-01T10:00:00Z"}
    assert request_fields({"team": "x"}) == {"team": "x"}
    lines = field_error_lines([FieldError("restore_from.snapshot", "is bad"), FieldError("ttl", "is bad")])
    assert lines == ["- **Restore from (snapshot)**: is bad", "- **Time to live (TTL)**: is bad"]
