"""engine.comment_parts: a comment split below GitHub's limit, every part valid markdown on its own."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass

import pytest

from engine.comment_parts import CONTINUED, GITHUB_COMMENT_LIMIT, comment_parts, find_marker, split_comment
from engine.plan_report import RootReport, render_report
from engine.summary import PlanSummary, summarize_plan
from tests.support.markdown import FENCE, TABLE_DELIMITER, Open, balanced, read_lines
from tests.support.plans import RECORDED, SECRETS, load

MARKER = "dbvend:plan"


# --- an independent reader of fences, <details> and tables, as GitHub renders them -------------------------


def expected_reopen(stack: list[Open]) -> str:
    reopen = ""
    for block in stack:
        if block.kind in ("fence", "table"):
            reopen += block.line + "\n"
        else:
            reopen += f"{block.line}<summary>{block.summary or 'Details'} (continued)</summary>\n\n"
    return reopen


def expected_close(stack: list[Open], content: str) -> str:
    close = "" if content.endswith("\n") else "\n"
    for block in reversed(stack):
        run = FENCE.match(block.line)
        close += "\n" if block.kind == "table" else (run.group(2) if run else "</details>") + "\n"
    return close + "\n" + CONTINUED


def check_split(body: str, limit: int, marker: str = MARKER) -> list[str]:
    """Every guarantee of split_comment, checked against the independent reader above."""
    texts = split_comment(body, marker, limit)
    parts = comment_parts(body, marker, limit)
    assert texts == [part.text for part in parts]
    assert "".join(part.content for part in parts) == body  # the round trip
    total = len(texts)
    stack: list[Open] = []
    position = 0
    for index, (text, part) in enumerate(zip(texts, parts, strict=True), start=1):
        assert len(text) <= limit, f"part {index}/{total} has {len(text)} characters"
        assert find_marker(text, marker) == (index, total)
        header = f"<!-- {marker} part {index}/{total} -->\n"
        reopen = expected_reopen(stack)
        content = body[position : position + len(part.content)]
        position += len(content)
        stack = read_lines(stack, content) if content else stack
        close = expected_close(stack, content) if index < total else ""
        assert text == header + reopen + content + close
        assert balanced(text), f"part {index}/{total} leaves a block open"
    return texts


# --- split_comment on chosen bodies ----------------------------------------------------------------------


def test_a_short_body_is_one_part_with_its_marker() -> None:
    assert split_comment("hello\n", MARKER) == [f"<!-- {MARKER} part 1/1 -->\nhello\n"]
    assert split_comment("", MARKER) == [f"<!-- {MARKER} part 1/1 -->\n"]


def test_an_open_fence_is_closed_and_reopened_with_its_info_string() -> None:
    body = "intro\n````json title=plan.json\n" + "".join(f'{{"line": {i}, "x": "```"}}\n' for i in range(40))
    body += "````\noutro\n"
    texts = check_split(body, 300)
    assert len(texts) > 2
    assert texts[0].endswith("\n````\n\n" + CONTINUED)
    assert texts[1].startswith(f"<!-- {MARKER} part 2/{len(texts)} -->\n````json title=plan.json\n{{")


def test_nested_details_and_fence_are_reopened_in_order() -> None:
    inner = "~~~hcl\n" + "".join(f'resource "aws_db_instance" "db{i}" {{}}\n' for i in range(30)) + "~~~\n"
    body = (
        "<details open><summary>Outer</summary>\n\n<details>\n<summary>Inner **b**</summary>\n\n"
        + inner
        + "\n</details>\n\n</details>\nafter\n"
    )
    texts = check_split(body, 400)
    second = texts[1].split("\n", 1)[1]
    assert second.startswith(
        "<details open><summary>Outer (continued)</summary>\n\n"
        "<details><summary>Inner **b** (continued)</summary>\n\n~~~hcl\n"
    )


@pytest.mark.parametrize(
    "long_line",
    [
        json.dumps({"resource_changes": [{"address": f"aws_db_instance.db{i}"} for i in range(400)]}),
        " " * 20_000,  # no cut leaves a rest that starts safely: the longest plain cut is taken
    ],
)
def test_a_line_longer_than_a_part_is_cut(long_line: str) -> None:
    body = "```json\n" + long_line + "\n```\n"
    texts = check_split(body, 1000)
    assert len(texts) > len(long_line) // 1000
    assert all(t.split("\n")[1] == "```json" for t in texts[1:])
    assert all(len(t) >= 990 for t in texts[:-1])  # parts are filled, not cut short


def test_lines_that_fit_in_a_part_are_never_cut() -> None:
    rng = random.Random(7)
    body = "".join("w" * rng.randint(300, 600) + "\n" for _ in range(100))
    parts = comment_parts(body, MARKER, 1000)
    assert len(parts) > 40
    assert all(part.content.endswith("\n") for part in parts)


def test_a_fence_line_longer_than_a_part_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="5001-character line: every cut leaves a fence or a tag"):
        split_comment("~" * 5000 + "\n", MARKER, 1000)


@pytest.mark.parametrize("limit", range(150, 171))
def test_a_cut_line_does_not_start_the_next_part_with_a_fence(limit: int) -> None:
    body = "intro\n" + "abcd~~~" * 100 + "\noutro\n"  # a plain line: no fence is open anywhere
    parts = comment_parts(body, MARKER, limit)
    assert len(parts) > 3
    assert all(part.reopen == "" for part in parts)
    assert all(part.close in ("", "\n\n" + CONTINUED, "\n" + CONTINUED) for part in parts)
    assert not any(part.content.startswith("~") for part in parts)


TABLE_HEADER = "| resource | action |\n|---|---|\n"


def table_body(rows: int) -> str:
    rows_text = "".join(f"| aws\\_db\\_instance.db{i} | update |\n" for i in range(rows))
    summary = f"<details><summary>All {rows} resource changes</summary>"
    return f"intro\n\n{summary}\n\n{TABLE_HEADER}{rows_text}\n</details>\n"


def test_a_table_cut_in_two_repeats_its_header_in_the_next_part() -> None:
    texts = check_split(table_body(60), 600)
    assert len(texts) > 2
    reopened = "<details><summary>All 60 resource changes (continued)</summary>\n\n" + TABLE_HEADER + "| aws"
    assert all(text.split("\n", 1)[1].startswith(reopened) for text in texts[1:])
    # A blank line ends the table before </details>: without it GitHub reads </details> as a row.
    assert all(text.endswith(" | update |\n\n</details>\n\n" + CONTINUED) for text in texts[:-1])


def last_content_line(text: str) -> str:
    """The last line of a part before what closes it: its own last line of the body."""
    lines = text.removesuffix(CONTINUED).rstrip("\n").split("\n")
    while lines and lines[-1] in ("", "</details>", "```"):
        lines.pop()
    return lines[-1]


@pytest.mark.parametrize("limit", range(240, 460, 3))
def test_no_part_ends_with_a_table_header_or_an_empty_details(limit: int) -> None:
    body = "".join(f"line {i} of the intro\n" for i in range(8)) + table_body(12)
    body += "\n```text\nafter\n```\n"
    texts = check_split(body, limit)
    assert len(texts) > 1
    for text in texts[:-1]:
        last = last_content_line(text)
        assert not TABLE_DELIMITER.match(last) and not last.startswith(("<details", "```text")), (limit, text)
        assert text.count("|---|---|") <= text.count(" | update |"), "a table with a header holds rows"


def test_a_part_that_holds_only_openings_is_not_emptied() -> None:
    """When a whole part is openings (here: a <details> and a table header before a row that needs a
    part of its own), it keeps them: leaving them for the next part would make no progress."""
    long_row = "| " + "x" * 900 + " | update |\n"
    body = "<details><summary>All</summary>\n\n" + TABLE_HEADER + long_row + "\n</details>\n"
    texts = check_split(body, 400)
    assert len(texts) > 2


def test_a_backtick_fence_with_a_backtick_in_its_info_is_not_a_fence() -> None:
    body = "``` not `a fence\n" + "text line\n" * 100
    texts = check_split(body, 200)
    assert all("```\n\n" + CONTINUED not in t for t in texts)


def test_the_marker_width_grows_with_the_number_of_parts() -> None:
    texts = check_split("".join(f"line {i:04d}\n" for i in range(3000)), 200)
    assert len(texts) > 100
    assert find_marker(texts[99], MARKER) == (100, len(texts))


def test_limits_too_small_and_bad_markers_raise() -> None:
    with pytest.raises(ValueError, match="limit too small"):
        split_comment("x" * 100, "m", limit=40)
    with pytest.raises(ValueError, match="HTML comment"):
        split_comment("x", "a --> b")
    with pytest.raises(ValueError, match="HTML comment"):
        split_comment("x", "")


def test_find_marker() -> None:
    assert find_marker(f"<!-- {MARKER} part 2/5 -->\nbody", MARKER) == (2, 5)
    assert find_marker(f"<!-- {MARKER} part 1/1 -->", MARKER) == (1, 1)
    assert find_marker(f"<!-- {MARKER} part 1/1 -->\r\nbody", MARKER) == (1, 1)
    assert find_marker(f"<!-- {MARKER} part 6/5 -->\n", MARKER) is None
    assert find_marker(f"<!-- {MARKER} part 0/5 -->\n", MARKER) is None
    assert find_marker(f"<!-- {MARKER}x part 1/2 -->\n", MARKER) is None
    assert find_marker(f"<!-- {MARKER} part 1/2 --> trailing\n", MARKER) is None
    assert find_marker(f"text\n<!-- {MARKER} part 1/2 -->\n", MARKER) is None
    assert find_marker("<!-- a.b part 1/2 -->\n", "a.b") == (1, 2)
    assert find_marker("<!-- axb part 1/2 -->\n", "a.b") is None


# --- split_comment on generated bodies -------------------------------------------------------------------

WORDS = [
    "orders",
    "db.t4g.medium",
    "`inline`",
    "a<b",
    "~x",
    "**bold**",
    "x```y",
    "|",
    "⚠️",
    "é",
    "#1",
    "[l](u)",
]
INFO_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 -_{}.="
LONG_CHARS = 'abcdefghij klmnop 0123456789{}[]:,"`<>~'


@dataclass(frozen=True)
class Shape:
    depth: int  # how deep <details> nest
    info: int  # the longest info string
    summary: int  # the longest summary
    long: int  # the longest long line


SHAPES = {200: Shape(1, 16, 12, 700), 500: Shape(3, 30, 20, 2500), 1000: Shape(4, 40, 30, 5000)}


def random_body(rng: random.Random, shape: Shape, blocks: int = 12) -> str:
    lines: list[str] = []

    def words(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    def fence() -> None:
        char = rng.choice("`~")
        size = rng.randint(3, 6)
        info = "".join(rng.choice(INFO_CHARS) for _ in range(rng.randint(0, shape.info))).strip()
        if char == "~" and info and rng.random() < 0.3:
            info = info[:-1] + "`"
        indent = " " * rng.choice([0, 0, 0, 1, 3])
        lines.append(f"{indent}{char * size}{info}")
        for _ in range(rng.randint(0, 12)):
            lines.append(
                rng.choice(
                    [
                        json.dumps({"address": words(2), "n": rng.randint(0, 10**6)}),
                        char * (size - 1),  # too short to close
                        ("~" if char == "`" else "`") * 8,  # the other fence character
                        char * (size + 1) + " not a close",
                        "</details>",
                        "<details><summary>not a tag in code</summary>",
                        "".join(rng.choice(LONG_CHARS) for _ in range(rng.randint(100, shape.long))),
                        "",
                    ]
                )
            )
        lines.append(indent + char * (size + rng.randint(0, 2)))

    def details(depth: int) -> None:
        summary = words(3)[: shape.summary].strip() or "s"
        style = rng.randrange(3)
        if style == 0:
            lines.append(f"<details><summary>{summary}</summary>")
        elif style == 1:
            lines.append(f"<details open><summary>{summary}</summary>")
        else:
            lines.extend(["<details>", f"<summary>{summary}</summary>"])
        lines.append("")
        block(depth + 1, rng.randint(1, 5))
        lines.extend(["", "</details>"])

    def table() -> None:
        columns = rng.randint(1, max(1, shape.summary // 10))  # a header small enough to repeat in a part
        lines.extend(["", "| " + " | ".join(words(1) for _ in range(columns)) + " |", "|" + "---|" * columns])
        for _ in range(rng.randint(0, 15)):
            cells = [words(rng.randint(1, 6)) for _ in range(columns)]
            if rng.random() < 0.1:
                cells[0] = "".join(rng.choice(LONG_CHARS) for _ in range(rng.randint(100, shape.long)))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    def block(depth: int, count: int) -> None:
        for _ in range(count):
            pick = rng.random()
            if pick < 0.35:
                lines.append(words(rng.randint(1, 15)))
            elif pick < 0.55:
                fence()
            elif pick < 0.75 and depth < shape.depth:
                details(depth)
            elif pick < 0.85:
                lines.append(
                    "z" + "".join(rng.choice(LONG_CHARS) for _ in range(rng.randint(150, shape.long)))
                )
            elif pick < 0.92:
                table()
            else:
                lines.append(rng.choice(["", "### heading", "| a | b |", "- item", "> quote"]))

    block(0, blocks)
    body = "\n".join(lines)
    return body + "\n" if rng.random() < 0.8 else body


@pytest.mark.parametrize("limit", sorted(SHAPES))
@pytest.mark.parametrize("seed", range(40))
def test_split_comment_on_generated_bodies(limit: int, seed: int) -> None:
    rng = random.Random(f"{limit}-{seed}")
    body = random_body(rng, SHAPES[limit])
    assert balanced(body)  # the generator's own promise, so that every part can be balanced
    texts = check_split(body, limit)
    assert len(texts) > 1


def test_split_comment_on_a_300_kb_body_at_githubs_limit() -> None:
    rng = random.Random(300)
    shape = Shape(depth=5, info=60, summary=60, long=5000)
    huge = json.dumps([{"address": f"aws_db_instance.db{i}", "after": {"port": 5432}} for i in range(1600)])
    assert len(huge) > GITHUB_COMMENT_LIMIT  # one line longer than a whole comment, inside a fence
    opening = ["<details><summary>Plan JSON</summary>", "", "```json title=plan.json"]
    body = "\n".join([*opening, huge, "```", "", "</details>", ""])
    while len(body) < 300_000:
        body += random_body(rng, shape, blocks=30) + "\n"
    texts = check_split(body, GITHUB_COMMENT_LIMIT)
    assert len(texts) >= 5
    reopened = opening[0].replace("</summary>", " (continued)</summary>")
    assert texts[1].split("\n")[1:4] == [reopened, *opening[1:]]


def test_a_report_of_300_databases_splits_into_valid_comments() -> None:
    summaries = {name: summarize_plan(load(name)) for name in RECORDED}
    reports = []
    for i in range(300):
        name = RECORDED[i % len(RECORDED)]
        summary: PlanSummary | None = copy.deepcopy(summaries[name])
        error = None
        if i % 17 == 0:
            summary = None
            error = f"Error: creating RDS DB Instance (db{i}): InvalidParameterCombination\n```\n</details>\n"
        reports.append(
            RootReport(
                f"terraform/{('prod', 'staging', 'dev')[i % 3]}/db{i:03d}",
                summary,
                error=error,
                monthly_cost=None if i % 5 == 0 else 10.0 + i,
                policy=("pass", "warn: 2 warnings", "fail: CKV_DBV_4, CKV_AWS_16")[i % 3],
                locked_by=f"runner-{i}, since 2026-11-23 09:{i % 60:02d} UTC" if i % 23 == 0 else None,
            )
        )
    body = render_report(reports)
    assert len(body) > 2 * GITHUB_COMMENT_LIMIT
    assert balanced(body)
    texts = check_split(body, GITHUB_COMMENT_LIMIT)
    joined = "".join(texts)
    for i in range(300):
        assert f"db{i:03d}" in joined
    for secret in SECRETS:
        assert secret not in joined
