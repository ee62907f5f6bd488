"""The human-readable evidence report: one self-contained HTML page rendered from the bundle.

No external assets (no scripts, fonts, stylesheets or images fetched from anywhere): the page is
read offline, attached to tickets and archived beside the promotion record. Charts are inline
SVG. The output depends on the bundle alone, so the same bundle always renders the same bytes,
and it passes the same sanitiser as every other shared surface.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from modelsmith.evidence.bundle import EvidenceBundle, HistoryPoint, canonical_json, digest
from modelsmith.evidence.sanitiser import DEFAULT, Sanitiser

_CSS: Final = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #1b1f24; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.sub { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.good { color: #1a7f37; } .bad { color: #cf222e; } .muted { color: #57606a; }
.verdict { font-weight: 600; }
svg text { font-size: 11px; fill: #1b1f24; }
code { background: #f6f8fa; padding: 0 0.2rem; }
""".strip()

_OVERALL: Final = "#0969da"
_HELDOUT: Final = "#bf8700"
_THRESHOLD: Final = "#cf222e"
_BASE: Final = "#8c959f"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "±0.000" if abs(value) < 5e-4 else f"{value:+.3f}"


def _cls(value: float | None) -> str:
    if value is None or abs(value) < 5e-4:
        return "muted"
    return "good" if value > 0 else "bad"


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
    ]
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
    ty = _f(frame.y(threshold))
    parts.append(
        f'<line class="threshold" x1="{frame.left}" y1="{ty}" '
        f'x2="{_f(frame.left + frame.inner_width)}" y2="{ty}" stroke="{_THRESHOLD}" '
        f'stroke-dasharray="6 4"/>'
    )
    series = (
        ("overall", _OVERALL, [(p, p.score) for p in history]),
        ("heldout", _HELDOUT, [(p, p.heldout_score) for p in history]),
    )
    for name, colour, values in series:
        points = [(p, v) for p, v in values if v is not None]
        if not points:
            continue
        line = " ".join(f"{_f(x(p.iteration))},{_f(frame.y(v))}" for p, v in points)
        parts.append(
            f'<polyline class="{name}" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{line}"/>'
        )
        for p, v in points:
            fill = colour if p.accepted else "#ffffff"
            radius = 6 if p.iteration == candidate else 4
            parts.append(
                f'<circle cx="{_f(x(p.iteration))}" cy="{_f(frame.y(v))}" r="{radius}" '
                f'fill="{fill}" stroke="{colour}" stroke-width="2">'
                f"<title>{_e(name)} iteration {p.iteration}: {v:.3f} "
                f"({'accepted' if p.accepted else 'not accepted'})</title></circle>"
            )
    legend_x = frame.left + frame.inner_width + 14
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
            f'dominant-baseline="middle">{_e(label)}</text>'
        )
    parts.append(
        f'<text x="{legend_x}" y="{frame.top + 70}" class="muted">filled: accepted</text></svg>'
    )
    return "".join(parts)


def dimension_bars(rows: Sequence[tuple[str, float | None, float | None]], title: str) -> str:
    """Horizontal bars per value: base model (grey) against candidate (blue)."""
    row_height, label_width, bar_width = 34, 180, 440
    height = 28 + len(rows) * row_height
    width = label_width + bar_width + 70
    parts = [
        f'<svg class="dimension-bars" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{_e(title)}</title>',
        f'<rect x="{label_width}" y="4" width="12" height="10" fill="{_BASE}"/>'
        f'<text x="{label_width + 16}" y="13">base model</text>'
        f'<rect x="{label_width + 110}" y="4" width="12" height="10" fill="{_OVERALL}"/>'
        f'<text x="{label_width + 126}" y="13">candidate</text>',
    ]
    for i, (value, base, candidate) in enumerate(rows):
        top = 24 + i * row_height
        parts.append(
            f'<text x="{label_width - 8}" y="{top + 14}" text-anchor="end">{_e(value)}</text>'
        )
        for offset, score, colour in ((0, base, _BASE), (14, candidate, _OVERALL)):
            length = _f((score or 0.0) * bar_width)
            parts.append(
                f'<rect x="{label_width}" y="{top + offset}" width="{length}" height="12" '
                f'fill="{colour}"/><text x="{_f(label_width + (score or 0.0) * bar_width + 4)}" '
                f'y="{top + offset + 10}">{_score(score)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """Cells arrive already escaped (some carry markup)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary(bundle: EvidenceBundle) -> str:
    c = bundle.candidate
    verdict = (
        '<span class="good verdict">clears the threshold</span>'
        if c.clears_threshold
        else '<span class="bad verdict">below the threshold</span>'
    )
    rows = [
        ["Candidate", f"{_e(c.label)} (iteration {c.iteration})"],
        ["Overall score", f"{_score(c.score)} ({c.passed}/{c.total} scenarios)"],
        ["Held-out score", f"{_score(c.heldout_score)}: {verdict} {bundle.policy.threshold:.3f}"],
    ]
    for comp in bundle.comparisons:
        name = "Base model" if comp.baseline == "baseline" else "Previous accepted"
        rows.append(
            [
                f"{name} ({_e(comp.label)})",
                f"{_score(comp.score)}, held-out {_score(comp.heldout_score)}; candidate "
                f'<span class="{_cls(comp.delta)}">{_signed(comp.delta)}</span>, held-out '
                f'<span class="{_cls(comp.heldout_delta)}">{_signed(comp.heldout_delta)}</span>',
            ]
        )
    lat = bundle.latency
    rows += [
        ["Regressions", str(bundle.regressions.count)],
        [
            "Latency p50 / p95",
            f"{_ms(lat.p50_ms)} / {_ms(lat.p95_ms)} "
            f'<span class="muted">(base model {_ms(lat.baseline_p50_ms)} / '
            f"{_ms(lat.baseline_p95_ms)})</span>",
        ],
        [
            "Cost per decision",
            f"{_cost(bundle.cost.per_decision)} on {_e(bundle.cost.device)} "
            f'<span class="muted">({_e(bundle.cost.note)})</span>',
        ],
        [
            "Benchmark",
            f"{_e(bundle.benchmark.name)} {_e(bundle.benchmark.version)}, "
            f"{bundle.benchmark.scenario_count} scenarios, "
            f"{bundle.benchmark.heldout_count} held out; "
            f"<code>{_e(bundle.benchmark.digest)}</code>",
        ],
        ["Owner", _e(bundle.owner)],
    ]
    return _table(["Measure", "Value"], rows, set())


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _cost(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def _history(bundle: EvidenceBundle) -> str:
    rows = [
        [
            str(p.iteration),
            _score(p.score),
            _score(p.heldout_score),
            "yes" if p.accepted else "no",
            _e(p.decision),
            _e(p.reason),
            _e(p.recipe),
        ]
        for p in bundle.history
    ]
    return _table(
        ["Iteration", "Score", "Held-out", "Accepted", "Decision", "Reason", "Recipe"],
        rows,
        {0, 1, 2},
    )


def _regressions(bundle: EvidenceBundle) -> str:
    if not bundle.regressions.scenarios:
        return "<p>None: every scenario the baselines passed, the candidate passes.</p>"
    rows = [
        [_e(r.id), _e(r.split), _e(r.capability), _e(r.risk), _e(", ".join(r.passed_on))]
        for r in bundle.regressions.scenarios
    ]
    return _table(["Scenario", "Split", "Capability", "Risk", "Passed on"], rows, set())


def _dimensions(bundle: EvidenceBundle) -> str:
    out = []
    for dim, rows in bundle.by_dimension.items():
        table = _table(
            [dim, "Base model", "Previous accepted", "Candidate", "Change", "Scenarios"],
            [
                [
                    _e(r.value),
                    _score(r.baseline),
                    _score(r.previous),
                    _score(r.candidate),
                    f'<span class="{_cls(r.delta)}">{_signed(r.delta)}</span>',
                    str(r.total),
                ]
                for r in rows
            ],
            {1, 2, 3, 4, 5},
        )
        out.append(f"<h3>By {_e(dim)}</h3>{table}")
    return "".join(out)


def _digest(value: str | None) -> str:
    """A digest as a reviewer compares it: in full, in code type; or that it was not recorded."""
    return f"<code>{_e(value)}</code>" if value else "digest not recorded"


def _lineage(bundle: EvidenceBundle) -> str:
    lineage = bundle.lineage
    items = [
        f"<li>base model <strong>{_e(lineage.base)}</strong> "
        f"(weights {_digest(lineage.base_digest)})</li>"
    ]
    items += [
        f"<li>iteration {s.iteration}: {_e(s.recipe)} &rarr; <strong>{_e(s.label)}</strong> "
        f"(score {_score(s.score)}, held-out {_score(s.heldout_score)}; training material "
        f"{_digest(s.training_data_digest)}, adapter {_digest(s.adapter_digest)})</li>"
        for s in lineage.steps
    ]
    return (
        f'<ol class="lineage">{"".join(items)}</ol><p class="muted">{_e(bundle.lineage.path)}</p>'
    )


def _approvers(bundle: EvidenceBundle) -> str:
    prefix = digest(bundle).removeprefix("sha256:")[:12]
    rows = [
        [
            str(i + 1),
            _e(a.role),
            _e(", ".join(a.users)) or '<span class="muted">none</span>',
            _e(", ".join(a.groups)) or '<span class="muted">none</span>',
            f"<code>approval.modelsmith.io/{_e(a.role)}=approved:&lt;user&gt;:{prefix}</code>",
        ]
        for i, a in enumerate(bundle.approvers)
    ]
    return _table(["Order", "Role", "Users", "Groups", "Sign off with"], rows, {0})


def render_report(bundle: EvidenceBundle, sanitiser: Sanitiser = DEFAULT) -> str:
    """The report for `bundle` as one HTML document. Raises LeakError if anything in it would
    leak (pass the run's sanitiser to also refuse its benchmark text)."""
    capability = [
        (r.value, r.baseline, r.candidate) for r in bundle.by_dimension.get("capability", [])
    ]
    bars = (
        dimension_bars(capability, "Score by capability: base model against candidate")
        if capability
        else "<p>No per-capability scores were recorded.</p>"
    )
    notes = (
        "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in bundle.notes) + "</ul>"
        if bundle.notes
        else "<p>None.</p>"
    )
    rollback = bundle.rollback
    embedded = canonical_json(bundle).decode("utf-8").replace("</", "<\\/")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence: {_e(bundle.candidate.label)}</title>
<style>
{_CSS}
</style>
</head>
<body>
<h1>Evidence for {_e(bundle.candidate.label)}</h1>
<p class="sub">Run {_e(bundle.run)} &middot; {_e(bundle.schema_id)} &middot; generated \
{_e(bundle.generated_at.isoformat().replace("+00:00", "Z"))} &middot; \
<code>{_e(digest(bundle))}</code></p>
<h2>Summary</h2>
{_summary(bundle)}
<h2>Score movement</h2>
{score_chart(bundle.history, bundle.policy.threshold, bundle.candidate.iteration)}
<h2>Scores by capability</h2>
{bars}
{_dimensions(bundle)}
<h2>Regressions ({bundle.regressions.count})</h2>
{_regressions(bundle)}
<h2>Iterations</h2>
{_history(bundle)}
<h2>Lineage</h2>
{_lineage(bundle)}
<h2>Approver chain</h2>
{_approvers(bundle)}
<h2>Rollback</h2>
<p>{_e(rollback.expectation)}</p>
<p class="muted">The previous serving pointer is \
{"kept, so a rollback can restore it" if rollback.retain_previous else "not kept"}; roll back \
with the <code>modelsmith.io/rollback</code> annotation on the PromotionGate.</p>
<h2>Operational notes</h2>
{notes}
<script type="application/json" id="evidence-bundle">{embedded}</script>
</body>
</html>
"""
    identities = [p for a in bundle.approvers for p in (*a.users, *a.groups)]
    allowed = sanitiser.allowing(
        bundle.run, bundle.candidate.label, bundle.lineage.base, bundle.benchmark.name, *identities
    )
    allowed.assert_clean(page, surface="evidence report")
    return page
