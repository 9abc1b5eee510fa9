"""Plain-text tables for the command line, fitted to the terminal; links are never cut."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from bot.domain.safetext import terminal

# Columns holding links: shown whole, on a line of their own when the table is too wide for them.
LINK_HEADERS = frozenset({"url", "link"})
_MIN_COLUMN = 6
_GAP = "  "


def terminal_width() -> int:
    """Return the terminal's width (COLUMNS wins; 100 when output is not a terminal)."""
    return shutil.get_terminal_size((100, 24)).columns


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _fit(widths: list[int], total: int) -> list[int]:
    """Narrow the widest columns, one character at a time, until the line fits (or none can shrink)."""
    widths = list(widths)
    while sum(widths) + len(_GAP) * (len(widths) - 1) > total:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= _MIN_COLUMN:
            break
        widths[widest] -= 1
    return widths


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    max_width: int = 60,
    width: int | None = None,
) -> str:
    """Return an aligned text table no wider than the terminal (or `width`).

    Cells longer than max_width, or than their column's share of the width, are cut with an
    ellipsis, except links: a link column too wide for the line is printed under each row, whole.
    """
    total = terminal_width() if width is None else width

    def clean(value: object) -> str:
        # Cells hold text from outside (titles, names, errors): one safe line each.
        return terminal(value)

    links = [i for i, h in enumerate(headers) if h.lower() in LINK_HEADERS]
    body = [[clean(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [
            max(w, len(c) if i in links else min(len(c), max_width))
            for i, (w, c) in enumerate(zip(widths, row, strict=True))
        ]
    inline = sum(widths) + len(_GAP) * (len(widths) - 1) <= total
    shown = list(range(len(headers))) if inline else [i for i in range(len(headers)) if i not in links]
    fitted = dict(zip(shown, _fit([widths[i] for i in shown], total), strict=True))

    def line(cells: Sequence[str]) -> str:
        return _GAP.join(
            (cells[i] if i in links else _cut(cells[i], fitted[i])).ljust(fitted[i]) for i in shown
        ).rstrip()

    out = [line([str(h) for h in headers]), _GAP.join("-" * fitted[i] for i in shown)]
    for row in body:
        out.append(line(row))
        if not inline:
            out += [f"    {row[i]}" for i in links if row[i]]
    return "\n".join(out)
