"""The operator's cleaning of Event messages and metric label values: remembered per text, so a
text asked for again is answered without running the detectors, and answered the same."""

from __future__ import annotations

from modelsmith.runtime.surface import clean_label, clean_text


def test_a_text_is_cleaned_every_time_it_is_asked_for() -> None:
    clean_text.cache_clear()
    leaky = "could not read s3://bucket/runs/demo/run/ledger/000001.json"
    first = clean_text(leaky)
    assert "s3://" not in first and "000001.json" not in first
    assert clean_text(leaky) == first
    assert clean_text.cache_info().hits == 1


def test_a_label_value_is_cleaned_and_bounded() -> None:
    assert clean_label("x" * 100) == "x" * 63
    assert "/etc" not in clean_label("/etc/modelsmith/secret")
