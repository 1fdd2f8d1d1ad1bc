"""The GitHub issue form (workflows/ISSUE_TEMPLATE/database.yml): parse its rendered body, render one."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from engine.description import md_escape
from engine.errors import FieldError
from engine.restore_from import parse_restore_option

FieldKind = Literal["input", "dropdown", "textarea"]


@dataclass(frozen=True)
class FormField:
    """One element of the issue form: its id is the request field it answers."""

    field: str
    label: str
    kind: FieldKind
    required: bool = False


# The form, in its order. The YAML's ids, labels, types and `required` must match these
# (tests/unit/test_forms.py holds them together); the labels are what the parser splits on.
FORM_FIELDS: Final = (
    FormField("database_name", "Database name", "input", required=True),
    FormField("database_engine", "Database engine", "dropdown", required=True),
    FormField("environment", "Environment", "dropdown", required=True),
    FormField("size", "Size", "dropdown"),
    FormField("ttl", "Time to live (TTL)", "input"),
    FormField("owner", "Owner", "input"),
    FormField("team", "Team", "input"),
    FormField("restore_from", "Restore from", "input"),
    FormField("reason", "Reason", "textarea"),
)
LABELS: Final = {f.field: f.label for f in FORM_FIELDS}
_BY_LABEL: Final = {f.label: f for f in FORM_FIELDS}


def field_error_lines(errors: Iterable[FieldError]) -> list[str]:
    """Each broken rule as a markdown list item, its field named as the issue form names it."""
    return [f"- **{md_escape(_label(e.field))}**: {md_escape(e.rule)}" for e in errors]


def _label(field: str) -> str:
    """A field as the form names it; a part of one (restore_from.snapshot) as "Restore from (snapshot)"."""
    head, dot, part = field.partition(".")
    if dot and head in LABELS:
        return f"{LABELS[head]} ({part})"
    return LABELS.get(field, field)


def request_fields(answers: Mapping[str, str]) -> dict[str, object]:
    """The form's answers as a request's fields: "Restore from" is written as the CLI's --restore-from
    is (ENV/ID:SNAPSHOT, ENV/ID@TIME) and becomes the request's restore_from object."""
    fields: dict[str, object] = dict(answers)
    if "restore_from" in answers:
        fields["restore_from"] = parse_restore_option(answers["restore_from"])
    return fields


# What GitHub writes for an unanswered element.
NO_RESPONSE: Final = "_No response_"  # input, textarea
NO_SELECTION: Final = "None"  # dropdown

_HEADING = re.compile(r" {0,3}###[ \t]+(?P<text>.*?)(?:[ \t]+#+)?[ \t]*")
_ANY_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t].*)?")
_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)")


@dataclass(frozen=True)
class FormResult:
    """The answered fields (request field name -> trimmed text) and the required ones left empty."""

    fields: dict[str, str] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_issue_form(body: str) -> FormResult:
    """Read an issue body written by the form (or edited since) into request fields."""
    sections = _sections(body.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    fields: dict[str, str] = {}
    for form_field in FORM_FIELDS:
        value = _answer(form_field, sections.get(form_field.field, []))
        if value:
            fields[form_field.field] = value
    errors = [FieldError(f.field, "is required") for f in FORM_FIELDS if f.required and f.field not in fields]
    return FormResult(fields, errors)


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """The lines under each known label's first heading.

    Popular parsers split on every `### ` line and so cut a reason that holds one. Here only
    a heading that is exactly a form label, seen for the first time and outside a code
    fence, starts a section; in the textarea anything else is text. Inputs and dropdowns
    are one line, so any other heading after one starts a section nobody asked for, which
    is skipped, and a ``` typed into one is text rather than a fence that would swallow the
    sections after it.
    """
    sections: dict[str, list[str]] = {}
    current: FormField | None = None
    fence: str | None = None
    for line in lines:
        in_textarea = current is not None and current.kind == "textarea"
        if fence is None:
            heading = _HEADING.fullmatch(line)
            known = _BY_LABEL.get(heading["text"]) if heading else None
            if known is not None and known.field not in sections:
                current = known
                sections[known.field] = []
                continue
            if not in_textarea and _ANY_HEADING.fullmatch(line):
                current = None
                continue
            if in_textarea:
                fence = _fence_opened(line)
        elif _closes(line, fence):
            fence = None
        if current is not None:
            sections[current.field].append(line)
    return sections


def _fence_opened(line: str) -> str | None:
    """The fence this line opens (CommonMark: ``` or ~~~, a backtick fence's info has none)."""
    match = _FENCE.fullmatch(line)
    if match is None or (match["fence"][0] == "`" and "`" in match["info"]):
        return None
    return match["fence"]


def _closes(line: str, fence: str) -> bool:
    """A closing fence: the same character, at least as long, nothing after it."""
    match = _FENCE.fullmatch(line)
    return (
        match is not None
        and match["fence"][0] == fence[0]
        and len(match["fence"]) >= len(fence)
        and not match["info"].strip()
    )


def _answer(form_field: FormField, lines: list[str]) -> str:
    """The trimmed answer under a heading; empty when GitHub wrote its no-answer marker."""
    value = "\n".join(lines).strip()
    if value == NO_RESPONSE or (form_field.kind == "dropdown" and value == NO_SELECTION):
        return ""
    return value


def render_issue_body(answers: Mapping[str, str | None]) -> str:
    """The body GitHub writes for a submitted form: `### Label`, a blank line, the answer."""
    unknown = set(answers) - set(LABELS)
    if unknown:
        raise ValueError(f"not fields of the issue form: {', '.join(sorted(unknown))}")
    parts = []
    for form_field in FORM_FIELDS:
        value = answers.get(form_field.field)
        if value is None or not value.strip():
            value = NO_SELECTION if form_field.kind == "dropdown" else NO_RESPONSE
        parts.append(f"### {form_field.label}\n\n{value}\n\n")
    return "".join(parts)
