"""Text for people: aligned columns and wrapped lines that stay within the terminal's width."""

from __future__ import annotations

import re
import shutil
import textwrap

MIN_COLUMN = 12  # a column is not squeezed below this (a long id then wraps over more lines)


def width() -> int:
    """The terminal's width (COLUMNS when set; 100 off a terminal)."""
    return shutil.get_terminal_size((100, 24)).columns


def wrap(text: str, width: int, indent: str = "", hanging: str = "    ", continuation: str | None = None) -> list[str]:
    """text in lines of at most width characters: the first starts with indent, the others with
    indent + hanging (or `continuation`), so that a wrapped line reads as the rest of the one above."""
    continuation = indent + hanging if continuation is None else continuation
    return textwrap.wrap(text, width=max(width, len(continuation) + MIN_COLUMN), initial_indent=indent,
                         subsequent_indent=continuation, break_on_hyphens=False) or [indent]  # fmt: skip


def _cell(text: str, width: int) -> list[str]:
    """A cell's lines: words wrapped; a path or resource id broken after a "/" where it can be."""
    if len(text) <= width or " " in text or "/" not in text:
        return textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    lines, line = [], ""
    for part in re.split(r"(?<=/)", text):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
        while len(line) > width:
            lines.append(line[:width])
            line = line[width:]
    return lines + [line] if line else lines


def _fit(natural: list[int], room: int) -> list[int]:
    """Column widths that fit room: the widest column gives way first, down to MIN_COLUMN."""
    widths = list(natural)
    while sum(widths) > room:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break
        widths[widest] = max(MIN_COLUMN, widths[widest] - (sum(widths) - room))
    return widths


def table(rows: list[list[str]], width: int, indent: str = "  ", gap: str = "  ") -> list[str]:
    """Rows as aligned columns within width; a cell too long for its column wraps within it."""
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    natural = [max(len(row[i]) for row in rows) for i in range(columns)]
    widths = _fit(natural, width - len(indent) - len(gap) * (columns - 1))
    lines = []
    for row in rows:
        cells = [_cell(cell, w) for cell, w in zip(row, widths, strict=True)]
        for n in range(max(len(cell) for cell in cells)):
            parts = [(cell[n] if n < len(cell) else "").ljust(w) for cell, w in zip(cells, widths, strict=True)]
            lines.append((indent + gap.join(parts)).rstrip())
    return lines
