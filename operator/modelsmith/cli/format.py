"""Plain-text formatting for `kubectl modelsmith`: kubectl-style tables, aligned fields,
short durations and scores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

NONE = "-"
# Terminal-friendly widths for free-text cells; the full text stays in status.
REASON_WIDTH = 50
RECIPE_WIDTH = 52
MESSAGE_WIDTH = 72


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 3, 1)].rstrip() + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, kubectl style."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
        for line in [list(headers), *[list(r) for r in rows]]
    ]
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """`Label:  value` lines with aligned values; continuation lines are indented to match."""
    width = max(len(label) for label, _ in pairs) + 2
    out: list[str] = []
    for label, value in pairs:
        first, *rest = value.split("\n") if value else [NONE]
        out.append(f"{label + ':':<{width}}{first}")
        out.extend(" " * width + line for line in rest)
    return "\n".join(out)


def score(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def signed(value: float) -> str:
    return f"{value:+.2f}"


def duration(seconds: float) -> str:
    """A short human duration: 45s, 3m 05s, 2h 10m, 3d 4h."""
    total = max(round(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return NONE
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"{duration((now - when).total_seconds())} ago"


def progress_bar(percent: float, width: int = 20) -> str:
    filled = min(max(round(percent / 100 * width), 0), width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def yes_no(value: bool) -> str:
    return "yes" if value else "no"
