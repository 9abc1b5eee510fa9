"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.safetext import terminal


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 60) -> str:
    """Return an aligned text table; cells longer than max_width are cut with an ellipsis."""

    def cell(value: object) -> str:
        # Cells hold text from outside (titles, names, errors): one safe line each.
        return terminal(value, max_width)

    body = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    out = [line, rule]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body]
    return "\n".join(out)
