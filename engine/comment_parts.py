"""Comments too long for GitHub: a body split into marked parts that reopen fences, <details> and tables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from typing import TypeAlias

# GitHub answers 422 "body is too long (maximum is 65536 characters)" above this. It counts characters,
# i.e. Unicode code points (Ruby's String#length), which is what Python's len() counts: "⚠️" is two.
GITHUB_COMMENT_LIMIT = 65_536
CONTINUED = "_(continued in the next comment)_"
_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_HTML_TOKEN = re.compile(
    r"(?P<open><details\b[^>]*>)|(?P<close></details\s*>)|<summary\b[^>]*>(?P<summary>.*?)</summary\s*>",
    re.IGNORECASE,
)
_CODE_SPAN = re.compile(r"(`+).*?\1")
# A table (GitHub's pipe tables, as dbvend writes them: every row starts with a pipe) opens with its
# header row and its delimiter row, and goes on while lines start with a pipe.
_TABLE_ROW = re.compile(r" {0,3}\|")
_TABLE_DELIMITER = re.compile(r" {0,3}\|(?: *:?-+:? *\|)+ *:?-*:? *")
_UNSAFE_LINE_START = " \t`~<"
_CUT_WINDOW = 512  # bounds the search on pathological lines (a whole line of backticks, say)
_SHORTEST_PIECE = 256  # a part already holding lines takes the start of a cut line only if this much fits


@dataclass(frozen=True)
class _Fence:
    line: str  # the opening line as written: fence and info string
    char: str
    length: int

    @property
    def reopen(self) -> str:
        return self.line + "\n"

    @property
    def close(self) -> str:
        return self.char * self.length + "\n"

    def closed_by(self, text: str) -> bool:
        stripped = text.rstrip(" \t")
        indent = len(stripped) - len(stripped.lstrip(" "))
        run = stripped.lstrip(" ")
        return indent <= 3 and len(run) >= self.length and run == self.char * len(run)


@dataclass(frozen=True)
class _Details:
    tag: str  # "<details>" or "<details open>", as written
    summary: str | None

    @property
    def reopen(self) -> str:
        # The blank line lets GitHub render the markdown that follows inside the HTML block.
        return f"{self.tag}<summary>{self.summary or 'Details'} (continued)</summary>\n\n"

    @property
    def close(self) -> str:
        return "</details>\n"


@dataclass(frozen=True)
class _Table:
    header: str  # the header row and the delimiter row, as written

    @property
    def reopen(self) -> str:
        return self.header + "\n"

    @property
    def close(self) -> str:
        return "\n"  # a blank line ends the table: what follows is no row of it


_Block: TypeAlias = _Fence | _Details | _Table
_Stack: TypeAlias = tuple[_Block, ...]


@dataclass(frozen=True)
class CommentPart:
    """One comment of a split body: reopen + content + close, under its hidden marker line."""

    index: int
    total: int
    marker: str
    reopen: str  # lines reopening the fences, <details> and table (its header) the previous part left open
    content: str  # this part's slice of the body, unchanged
    close: str  # "" on the last part, else: closing lines for what is open, then the continuation line

    @property
    def text(self) -> str:
        return f"{part_marker(self.marker, self.index, self.total)}\n{self.reopen}{self.content}{self.close}"


def part_marker(marker: str, index: int, total: int) -> str:
    return f"<!-- {marker} part {index}/{total} -->"


def split_comment(body: str, marker: str, limit: int = GITHUB_COMMENT_LIMIT) -> list[str]:
    """The body as comments of at most limit characters each (see comment_parts)."""
    return [part.text for part in comment_parts(body, marker, limit)]


def comment_parts(body: str, marker: str, limit: int = GITHUB_COMMENT_LIMIT) -> list[CommentPart]:
    """Split body on line boundaries into parts of at most limit characters, marker line included.

    A part that ends inside a code fence or a <details> block closes it, and the next part reopens it
    (same fence and info string; same summary with " (continued)"); one that ends inside a table ends
    it with a blank line, and the next part repeats the table's header row and delimiter row. A part
    never ends with a block it opened but holds nothing of (a <details> with only its summary, a table
    with only its header, an empty fence): it ends before it, and the next part starts with it. A line
    too long for a part is cut, preferably where neither piece looks like a fence or a tag. The
    contents, joined, are the body.
    Characters are counted as len() counts them (code points), as GitHub counts them.
    Raises ValueError for a marker that cannot sit in an HTML comment, a limit too small to make
    progress under the marker and the blocks to reopen, or a line longer than a part that reads as a
    fence or a tag wherever it is cut (a line of 70,000 backticks, say).
    """
    if not marker or "-->" in marker or "\n" in marker or "\r" in marker:
        raise ValueError(f"marker {marker!r} cannot go inside an HTML comment")
    digits = 1
    while True:
        widest = 10**digits - 1  # the header is reserved at its widest: "part 99/99" for 10 to 99 parts
        slices = _slices(body, limit - len(part_marker(marker, widest, widest)) - 1)
        if len(slices) <= widest:
            break
        digits += 1
    total = len(slices)
    return [CommentPart(i, total, marker, *piece) for i, piece in enumerate(slices, start=1)]


def _lines(body: str) -> list[str]:
    """The body's lines, a table's header row and delimiter row as one (a part never splits them)."""
    pieces = body.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    units: list[str] = []
    for line in lines:
        if units and _TABLE_DELIMITER.fullmatch(line.rstrip("\r\n")) and _is_header_row(units[-1]):
            units[-1] += line
        else:
            units.append(line)
    return units


def _is_header_row(unit: str) -> bool:
    return "\n" not in unit.rstrip("\r\n") and _TABLE_ROW.match(unit) is not None


def _slices(body: str, room: int) -> list[tuple[str, str, str]]:
    """(reopen, content, close) of each part, each within room characters."""
    todo = _lines(body)[::-1]  # a stack: the next line last
    slices: list[tuple[str, str, str]] = []
    state: _Stack = ()
    reopen, content = "", []
    befores: list[_Stack] = []  # the blocks open before each line of content
    used = 0
    while todo:
        unit, is_last = todo[-1], len(todo) == 1
        after = _step(state, unit)
        needed = len(unit) + (0 if is_last else len(_close(unit, after)))
        if used + needed <= room:
            todo.pop()
            content.append(unit)
            befores.append(state)
            used, state = used + len(unit), after
            continue
        # A line that no part can hold is cut, filling this part first if a good piece still fits.
        fits_a_part = _reopen(state) + needed <= room
        cut = None if fits_a_part else _cut(unit, state, room - used, _SHORTEST_PIECE if content else 1)
        if cut is not None:
            todo[-1:] = [unit[cut:], unit[:cut]]
        elif content:
            # Each line's close was checked to fit after it, so ending the part earlier still fits.
            keep = _empty_openings_start(content, befores, state)
            if keep < len(content):
                todo.extend(reversed(content[keep:]))
                state = befores[keep]
                del content[keep:], befores[keep:]
            slices.append((reopen, "".join(content), _close(content[-1], state)))
            reopen, content, befores = "".join(block.reopen for block in state), [], []
            used = len(reopen)
        elif used + len(_close("", state)) >= room:
            raise ValueError(f"comment limit too small: no room for the body under {len(state)} open blocks")
        else:
            raise ValueError(f"cannot split a {len(unit)}-character line: every cut leaves a fence or a tag")
    slices.append((reopen, "".join(content), ""))
    return slices


def _empty_openings_start(content: list[str], befores: list[_Stack], state: _Stack) -> int:
    """Where the part's content ends with blocks it opened but holds nothing of yet (only blank lines
    after them): the index of the first such opening line, or len(content) when there are none, or
    when nothing would be left before them."""
    start = len(content)
    for index in range(len(content) - 1, -1, -1):
        after = befores[index + 1] if index + 1 < len(content) else state
        if _opens(befores[index], after):
            start = index
        elif content[index].strip():
            return start
    return len(content)


def _opens(before: _Stack, after: _Stack) -> bool:
    """The line opened a block (or named a <details>' summary): it adds to what is open."""
    return after != before and len(after) >= len(before)


def _reopen(state: _Stack) -> int:
    return sum(len(block.reopen) for block in state)


def _close(last_line: str, state: _Stack) -> str:
    ending = "" if last_line.endswith("\n") else "\n"
    return ending + "".join(block.close for block in reversed(state)) + "\n" + CONTINUED


def _cut(unit: str, state: _Stack, space: int, shortest: int) -> int | None:
    """Where to cut a line too long for a part: the longest piece that fits and opens or closes nothing,
    preferring one whose rest cannot start a fence or a tag in the next part; None if there is none.
    (A piece may end a table: the rest of a cut row does, like any line that starts with no pipe.)"""
    start = min(len(unit) - 1, space - len(_close("", state)))
    plain = None
    for cut in range(start, max(shortest - 1, start - _CUT_WINDOW), -1):
        if _without_table(_step(state, unit[:cut])) != _without_table(state):
            continue
        if unit[cut] not in _UNSAFE_LINE_START:
            return cut
        plain = plain or cut
    return plain


def _without_table(state: _Stack) -> _Stack:
    return state[:-1] if state and isinstance(state[-1], _Table) else state


def _step(state: _Stack, line: str) -> _Stack:
    """The blocks open after this line, following GitHub's (CommonMark's) rules for fences."""
    text = line.rstrip("\r\n")
    top = state[-1] if state else None
    if isinstance(top, _Fence):
        return state[:-1] if top.closed_by(text) else state
    if isinstance(top, _Table):
        if _TABLE_ROW.match(text):
            return state  # a row: what looks like a tag in a cell is inline, no block
        state = state[:-1]  # a blank line or another block ends the table; the line is read on
    fence = _FENCE_OPEN.match(text)
    if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
        return (*state, _Fence(text, fence.group(2)[0], len(fence.group(2))))
    header, _, delimiter = text.partition("\n")
    if delimiter and _TABLE_ROW.match(header) and _TABLE_DELIMITER.fullmatch(delimiter.rstrip("\r")):
        return (*state, _Table(text))
    tokens = list(_HTML_TOKEN.finditer(text))
    code = [span.span() for span in _CODE_SPAN.finditer(text)] if tokens else []  # `<details>` is no tag
    for token in tokens:
        if any(start <= token.start() < end for start, end in code):
            continue
        top = state[-1] if state else None
        if token.group("open"):
            state = (*state, _Details(token.group("open"), None))
        elif isinstance(top, _Details) and token.group("close"):
            state = state[:-1]
        elif isinstance(top, _Details) and top.summary is None and token.group("summary") is not None:
            state = (*state[:-1], dataclass_replace(top, summary=token.group("summary")))
    return state


def find_marker(body: str, marker: str) -> tuple[int, int] | None:
    """(i, n) when the comment body starts with this marker's line `<!-- marker part i/n -->`."""
    match = re.match(rf"<!-- {re.escape(marker)} part ([0-9]+)/([0-9]+) -->(?:\r?\n|\Z)", body)
    if match is None:
        return None
    index, total = int(match.group(1)), int(match.group(2))
    return (index, total) if 1 <= index <= total else None
