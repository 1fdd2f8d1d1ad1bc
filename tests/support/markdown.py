"""A reader of the markdown dbvend writes: which fences, <details> and tables are open after each
line, so tests can tell a comment (or each part of one) is balanced on its own."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
TABLE_ROW = re.compile(r"^ {0,3}\|")
TABLE_DELIMITER = re.compile(r"^ {0,3}\|( *:?-+:? *\|)+ *:?-*:? *$")


@dataclass
class Open:
    kind: str  # "fence", "details" or "table"
    line: str  # fence: the opening line; details: the opening tag; table: header and delimiter rows
    summary: str | None = None


def read_lines(stack: list[Open], text: str) -> list[Open]:
    """The blocks open after text, every piece between newlines read as a line (as GitHub shows a part)."""
    stack = [Open(o.kind, o.line, o.summary) for o in stack]
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # after the last newline: no line
    while lines:
        line = lines.pop(0)
        top = stack[-1] if stack else None
        if top is not None and top.kind == "table":
            if TABLE_ROW.match(line):
                continue
            stack.pop()
            top = stack[-1] if stack else None
        if top is not None and top.kind == "fence":
            run = FENCE.match(top.line)
            assert run is not None
            fence = run.group(2)
            stripped = line.strip(" ")
            indent = len(line) - len(line.lstrip(" "))
            if indent <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}:
                stack.pop()
            continue
        opener = FENCE.match(line)
        if opener and not (opener.group(2)[0] == "`" and "`" in opener.group(3)):
            stack.append(Open("fence", line))
            continue
        if TABLE_ROW.match(line) and lines and TABLE_DELIMITER.match(lines[0]):
            stack.append(Open("table", f"{line}\n{lines.pop(0)}"))
            continue
        for tag in re.finditer(r"<details[^>]*>|</details>|<summary>(.*?)</summary>", line):
            if tag.group(0).startswith("<details"):
                stack.append(Open("details", tag.group(0)))
            elif tag.group(0) == "</details>":
                assert stack and stack[-1].kind == "details", "a </details> closes nothing"
                stack.pop()
            elif stack and stack[-1].kind == "details" and stack[-1].summary is None:
                stack[-1].summary = tag.group(1)
    return stack


def balanced(text: str) -> bool:
    """Nothing left open at the end of text but a table (which needs nothing to end it there)."""
    return all(block.kind == "table" for block in read_lines([], text))
