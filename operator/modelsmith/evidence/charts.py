"""Inline SVG charts for the evidence report: score movement across iterations and per-value
bars, base model against candidate. Inline so the report needs nothing fetched to be read, and
built from the data alone so the same bundle always draws the same bytes."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from modelsmith.evidence.sections import HistoryPoint

_OVERALL: Final = "#0969da"
_HELDOUT: Final = "#bf8700"
_THRESHOLD: Final = "#cf222e"
_BASE: Final = "#8c959f"


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def score_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _f(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True)
class _Frame:
    """A plot area inside an SVG of width x height with the given margins."""

    width: int
    height: int
    left: int = 48
    right: int = 160
    top: int = 16
    bottom: int = 36

    @property
    def inner_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, score: float) -> float:
        return self.top + (1.0 - max(0.0, min(1.0, score))) * self.inner_height


def _axes(frame: _Frame, iterations: Sequence[int], x: Callable[[int], float]) -> list[str]:
    """Score gridlines with their labels, iteration ticks, the x-axis caption and baseline."""
    parts = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _f(frame.y(tick))
        parts.append(
            f'<line x1="{frame.left}" y1="{y}" x2="{_f(frame.left + frame.inner_width)}" '
            f'y2="{y}" stroke="#eaeef2"/>'
            f'<text x="{frame.left - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{tick:.2f}</text>'
        )
    base_y = _f(frame.top + frame.inner_height)
    for i in iterations:
        parts.append(
            f'<text x="{_f(x(i))}" y="{_f(frame.top + frame.inner_height + 16)}" '
            f'text-anchor="middle">{i}</text>'
        )
    parts.append(
        f'<text x="{_f(frame.left + frame.inner_width / 2)}" y="{frame.height - 4}" '
        'text-anchor="middle">iteration (0 = base model)</text>'
        f'<line x1="{frame.left}" y1="{base_y}" x2="{_f(frame.left + frame.inner_width)}" '
        f'y2="{base_y}" stroke="#57606a"/>'
    )
    return parts


def _threshold_line(frame: _Frame, threshold: float) -> str:
    ty = _f(frame.y(threshold))
    return (
        f'<line class="threshold" x1="{frame.left}" y1="{ty}" '
        f'x2="{_f(frame.left + frame.inner_width)}" y2="{ty}" stroke="{_THRESHOLD}" '
        f'stroke-dasharray="6 4"/>'
    )


def _series(
    frame: _Frame,
    x: Callable[[int], float],
    name: str,
    colour: str,
    values: Sequence[tuple[HistoryPoint, float | None]],
    candidate: int,
) -> list[str]:
    """One score's line and a point per iteration: filled when accepted, larger for the
    candidate. Nothing when no iteration has that score."""
    points = [(p, v) for p, v in values if v is not None]
    if not points:
        return []
    line = " ".join(f"{_f(x(p.iteration))},{_f(frame.y(v))}" for p, v in points)
    parts = [
        f'<polyline class="{name}" fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>'
    ]
    for p, v in points:
        fill = colour if p.accepted else "#ffffff"
        radius = 6 if p.iteration == candidate else 4
        parts.append(
            f'<circle cx="{_f(x(p.iteration))}" cy="{_f(frame.y(v))}" r="{radius}" '
            f'fill="{fill}" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(name)} iteration {p.iteration}: {v:.3f} "
            f"({'accepted' if p.accepted else 'not accepted'})</title></circle>"
        )
    return parts


def _legend(frame: _Frame, threshold: float) -> list[str]:
    legend_x = frame.left + frame.inner_width + 14
    parts = []
    for row, (label, colour, dash) in enumerate(
        (
            ("overall score", _OVERALL, ""),
            ("held-out score", _HELDOUT, ""),
            (f"threshold {threshold:.3f}", _THRESHOLD, ' stroke-dasharray="6 4"'),
        )
    ):
        legend_y = frame.top + 10 + row * 18
        parts.append(
            f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 18}" y2="{legend_y}" '
            f'stroke="{colour}" stroke-width="2"{dash}/><text x="{legend_x + 24}" y="{legend_y}" '
            f'dominant-baseline="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{legend_x}" y="{frame.top + 70}" class="muted">filled: accepted</text></svg>'
    )
    return parts


def score_chart(history: Sequence[HistoryPoint], threshold: float, candidate: int) -> str:
    """Score movement across iterations: overall and held-out scores, with the threshold."""
    frame = _Frame(width=720, height=300)
    iterations = sorted({p.iteration for p in history}) or [0]
    last = max(iterations[-1], 1)

    def x(iteration: int) -> float:
        return frame.left + iteration / last * frame.inner_width

    parts = [
        f'<svg class="score-chart" role="img" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}">',
        "<title>Score movement across iterations</title>",
        *_axes(frame, iterations, x),
        _threshold_line(frame, threshold),
        *_series(frame, x, "overall", _OVERALL, [(p, p.score) for p in history], candidate),
        *_series(frame, x, "heldout", _HELDOUT, [(p, p.heldout_score) for p in history], candidate),
        *_legend(frame, threshold),
    ]
    return "".join(parts)


def dimension_bars(rows: Sequence[tuple[str, float | None, float | None]], title: str) -> str:
    """Horizontal bars per value: base model (grey) against candidate (blue)."""
    row_height, label_width, bar_width = 34, 180, 440
    height = 28 + len(rows) * row_height
    width = label_width + bar_width + 70
    parts = [
        f'<svg class="dimension-bars" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>',
        f'<rect x="{label_width}" y="4" width="12" height="10" fill="{_BASE}"/>'
        f'<text x="{label_width + 16}" y="13">base model</text>'
        f'<rect x="{label_width + 110}" y="4" width="12" height="10" fill="{_OVERALL}"/>'
        f'<text x="{label_width + 126}" y="13">candidate</text>',
    ]
    for i, (value, base, candidate) in enumerate(rows):
        top = 24 + i * row_height
        parts.append(
            f'<text x="{label_width - 8}" y="{top + 14}" text-anchor="end">{escape(value)}</text>'
        )
        for offset, score, colour in ((0, base, _BASE), (14, candidate, _OVERALL)):
            length = _f((score or 0.0) * bar_width)
            parts.append(
                f'<rect x="{label_width}" y="{top + offset}" width="{length}" height="12" '
                f'fill="{colour}"/><text x="{_f(label_width + (score or 0.0) * bar_width + 4)}" '
                f'y="{top + offset + 10}">{score_text(score)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
