"""The evidence report: a self-contained page with the score-movement chart, the numbers, and
nothing that leaks."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import evidence_samples as samples
import pytest

from modelsmith.evidence.bundle import canonical_json, digest, parse_bundle
from modelsmith.evidence.report import render_report
from modelsmith.evidence.sanitiser import DEFAULT, LeakError


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script += data


def _page() -> str:
    return render_report(samples.bundle(), samples.sanitiser())


def test_report_has_the_score_movement_chart() -> None:
    page = _page()
    chart = re.search(r'<svg class="score-chart".*?</svg>', page, re.DOTALL)
    assert chart is not None
    svg = chart.group()
    assert '<polyline class="overall"' in svg
    assert '<polyline class="heldout"' in svg
    assert '<line class="threshold"' in svg
    assert "threshold 0.700" in svg
    # One marker per iteration per series; the rejected iteration is drawn hollow.
    assert svg.count("<circle") == 8
    assert "overall iteration 2: 0.167 (not accepted)" in svg
    points = re.search(r'class="overall"[^>]*points="([^"]+)"', svg)
    assert points is not None and len(points.group(1).split()) == 4


def test_report_has_capability_bars_and_numbers() -> None:
    page = _page()
    bars = re.search(r'<svg class="dimension-bars".*?</svg>', page, re.DOTALL)
    assert bars is not None
    for capability in ("routing", "refunds", "escalation"):
        assert f">{capability}</text>" in bars.group()
    b = samples.bundle()
    for text in (
        "support-triage-run-1-iter-3",
        "0.917 (11/12 scenarios)",
        "+0.500",
        "+0.250",
        "clears the threshold",
        "refund-03",
        "115 ms / 210 ms",
        "0.000608",
        "tiny-support-base",
        "lora r16 a32 steps100 lr0.0002",
        "domain-owner",
        "domain-owners",
        "engineering-owner",
        "Restore the previous model within 5 minutes",
        "modelsmith.io/rollback",
        samples.BENCHMARK_DIGEST,
        digest(b),
        f"approved:&lt;user&gt;:{digest(b).removeprefix('sha256:')[:12]}",
        "Iteration 2 was rejected",
        "Regressions (1)",
    ):
        assert text in page, text


def test_report_is_self_contained() -> None:
    page = _page()
    collector = _Collector()
    collector.feed(page)
    for tag, attrs in collector.tags:
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
        assert tag not in {"link", "img", "iframe", "object", "embed"}
    scripts = [attrs for tag, attrs in collector.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "evidence-bundle"}]
    assert "://" not in page
    assert "@import" not in page and "url(" not in page


def test_report_embeds_the_bundle_it_shows() -> None:
    page = _page()
    collector = _Collector()
    collector.feed(page)
    embedded = parse_bundle(collector.script.replace("<\\/", "</"))
    assert embedded == samples.bundle()
    assert json.loads(collector.script) == json.loads(canonical_json(samples.bundle()))


def test_report_is_deterministic() -> None:
    assert _page() == _page()
    assert render_report(samples.bundle()) == _page()


def test_report_has_no_leaks() -> None:
    page = _page()
    assert DEFAULT.check(page) == []
    assert samples.sanitiser().check(page) == []
    for prompt in samples.PROMPTS:
        assert prompt not in page


def test_report_escapes_and_refuses_leaks() -> None:
    b = samples.bundle(notes=["<b>bold</b> & co"])
    page = render_report(b)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    # A bundle that did not come through the builder is still checked.
    leaky = b.model_copy(update={"notes": ["copied to /tmp/evidence/report.html"]})
    with pytest.raises(LeakError) as raised:
        render_report(leaky)
    assert "/tmp/evidence" not in str(raised.value)
    seeded = b.model_copy(update={"notes": [samples.PROMPTS[0]]})
    render_report(seeded)  # the default sanitiser knows no benchmark text
    with pytest.raises(LeakError):
        render_report(seeded, samples.sanitiser())


def test_report_without_capabilities_or_regressions() -> None:
    b = samples.bundle()
    bare = b.model_copy(
        update={
            "by_dimension": {},
            "regressions": b.regressions.model_copy(update={"count": 0, "scenarios": []}),
            "notes": [],
        }
    )
    page = render_report(bare)
    assert "No per-capability scores were recorded." in page
    assert "None: every scenario the baselines passed, the candidate passes." in page


def test_report_for_a_generated_run_name() -> None:
    b = samples.bundle(run="support-run-x7k2p", candidate_label="support-run-x7k2p-iter-3")
    assert "support-run-x7k2p" in render_report(b, samples.sanitiser())
