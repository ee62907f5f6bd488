"""The human-readable evidence report: one self-contained HTML page rendered from the bundle.

No external assets (no scripts, fonts, stylesheets or images fetched from anywhere): the page is
read offline, attached to tickets and archived beside the promotion record. Charts are inline
SVG. The output depends on the bundle alone, so the same bundle always renders the same bytes,
and it passes the same sanitiser as every other shared surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from modelsmith.evidence.bundle import EvidenceBundle, canonical_json, digest
from modelsmith.evidence.charts import dimension_bars, escape, score_chart, score_text
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


def _signed(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "±0.000" if abs(value) < 5e-4 else f"{value:+.3f}"


def _cls(value: float | None) -> str:
    if value is None or abs(value) < 5e-4:
        return "muted"
    return "good" if value > 0 else "bad"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """Cells arrive already escaped (some carry markup)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
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
        ["Candidate", f"{escape(c.label)} (iteration {c.iteration})"],
        ["Overall score", f"{score_text(c.score)} ({c.passed}/{c.total} scenarios)"],
        [
            "Held-out score",
            f"{score_text(c.heldout_score)}: {verdict} {bundle.policy.threshold:.3f}",
        ],
    ]
    for comp in bundle.comparisons:
        name = "Base model" if comp.baseline == "baseline" else "Previous accepted"
        rows.append(
            [
                f"{name} ({escape(comp.label)})",
                f"{score_text(comp.score)}, held-out {score_text(comp.heldout_score)}; candidate "
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
            f"{_cost(bundle.cost.per_decision)} on {escape(bundle.cost.device)} "
            f'<span class="muted">({escape(bundle.cost.note)})</span>',
        ],
        [
            "Benchmark",
            f"{escape(bundle.benchmark.name)} {escape(bundle.benchmark.version)}, "
            f"{bundle.benchmark.scenario_count} scenarios, "
            f"{bundle.benchmark.heldout_count} held out; "
            f"<code>{escape(bundle.benchmark.digest)}</code>",
        ],
        ["Owner", escape(bundle.owner)],
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
            score_text(p.score),
            score_text(p.heldout_score),
            "yes" if p.accepted else "no",
            escape(p.decision),
            escape(p.reason),
            escape(p.recipe),
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
        [
            escape(r.id),
            escape(r.split),
            escape(r.capability),
            escape(r.risk),
            escape(", ".join(r.passed_on)),
        ]
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
                    escape(r.value),
                    score_text(r.baseline),
                    score_text(r.previous),
                    score_text(r.candidate),
                    f'<span class="{_cls(r.delta)}">{_signed(r.delta)}</span>',
                    str(r.total),
                ]
                for r in rows
            ],
            {1, 2, 3, 4, 5},
        )
        out.append(f"<h3>By {escape(dim)}</h3>{table}")
    return "".join(out)


def _digest(value: str | None) -> str:
    """A digest as a reviewer compares it: in full, in code type; or that it was not recorded."""
    return f"<code>{escape(value)}</code>" if value else "digest not recorded"


def _lineage(bundle: EvidenceBundle) -> str:
    lineage = bundle.lineage
    items = [
        f"<li>base model <strong>{escape(lineage.base)}</strong> "
        f"(weights {_digest(lineage.base_digest)})</li>"
    ]
    items += [
        f"<li>iteration {s.iteration}: {escape(s.recipe)} &rarr; "
        f"<strong>{escape(s.label)}</strong> (score {score_text(s.score)}, held-out "
        f"{score_text(s.heldout_score)}; training material "
        f"{_digest(s.training_data_digest)}{_supplied(s.supplied_data_digest)}, adapter "
        f"{_digest(s.adapter_digest)}{_nodes(s.training_nodes)})</li>"
        for s in lineage.steps
    ]
    path = escape(bundle.lineage.path)
    return f'<ol class="lineage">{"".join(items)}</ol><p class="muted">{path}</p>'


def _supplied(digest_: str | None) -> str:
    return f" with the intake's training data {_digest(digest_)}" if digest_ else ""


def _nodes(nodes: int | None) -> str:
    return f"; trained on {nodes} nodes" if nodes is not None and nodes > 1 else ""


def _approvers(bundle: EvidenceBundle) -> str:
    prefix = digest(bundle).removeprefix("sha256:")[:12]
    rows = [
        [
            str(i + 1),
            escape(a.role),
            escape(", ".join(a.users)) or '<span class="muted">none</span>',
            escape(", ".join(a.groups)) or '<span class="muted">none</span>',
            f"<code>approval.modelsmith.io/{escape(a.role)}=approved:&lt;user&gt;:{prefix}</code>",
        ]
        for i, a in enumerate(bundle.approvers)
    ]
    return _table(["Order", "Role", "Users", "Groups", "Sign off with"], rows, {0})


def _capability_bars(bundle: EvidenceBundle) -> str:
    capability = [
        (r.value, r.baseline, r.candidate) for r in bundle.by_dimension.get("capability", [])
    ]
    if not capability:
        return "<p>No per-capability scores were recorded.</p>"
    return dimension_bars(capability, "Score by capability: base model against candidate")


def _notes(bundle: EvidenceBundle) -> str:
    if not bundle.notes:
        return "<p>None.</p>"
    return "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in bundle.notes) + "</ul>"


def _head(bundle: EvidenceBundle) -> str:
    """From the doctype to the line naming the run, schema, time and bundle digest."""
    label = escape(bundle.candidate.label)
    generated = escape(bundle.generated_at.isoformat().replace("+00:00", "Z"))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence: {label}</title>
<style>
{_CSS}
</style>
</head>
<body>
<h1>Evidence for {label}</h1>
<p class="sub">Run {escape(bundle.run)} &middot; {escape(bundle.schema_id)} &middot; generated \
{generated} &middot; <code>{escape(digest(bundle))}</code></p>
"""


def _measures(bundle: EvidenceBundle) -> str:
    """Summary, score movement, per-dimension scores, regressions and iterations."""
    chart = score_chart(bundle.history, bundle.policy.threshold, bundle.candidate.iteration)
    return f"""<h2>Summary</h2>
{_summary(bundle)}
<h2>Score movement</h2>
{chart}
<h2>Scores by capability</h2>
{_capability_bars(bundle)}
{_dimensions(bundle)}
<h2>Regressions ({bundle.regressions.count})</h2>
{_regressions(bundle)}
<h2>Iterations</h2>
{_history(bundle)}
"""


def _governance(bundle: EvidenceBundle) -> str:
    """Lineage, approver chain, rollback, notes, and the bundle itself for machines."""
    rollback = bundle.rollback
    kept = "kept, so a rollback can restore it" if rollback.retain_previous else "not kept"
    # "</" inside the JSON would end the script element early.
    embedded = canonical_json(bundle).decode("utf-8").replace("</", "<\\/")
    return f"""<h2>Lineage</h2>
{_lineage(bundle)}
<h2>Approver chain</h2>
{_approvers(bundle)}
<h2>Rollback</h2>
<p>{escape(rollback.expectation)}</p>
<p class="muted">The previous serving pointer is {kept}; roll back \
with the <code>modelsmith.io/rollback</code> annotation on the PromotionGate.</p>
<h2>Operational notes</h2>
{_notes(bundle)}
<script type="application/json" id="evidence-bundle">{embedded}</script>
</body>
</html>
"""


def render_report(bundle: EvidenceBundle, sanitiser: Sanitiser = DEFAULT) -> str:
    """The report for `bundle` as one HTML document. Raises LeakError if anything in it would
    leak (pass the run's sanitiser to also refuse its benchmark text)."""
    page = _head(bundle) + _measures(bundle) + _governance(bundle)
    identities = [p for a in bundle.approvers for p in (*a.users, *a.groups)]
    allowed = sanitiser.allowing(
        bundle.run, bundle.candidate.label, bundle.lineage.base, bundle.benchmark.name, *identities
    )
    allowed.assert_clean(page, surface="evidence report")
    return page
