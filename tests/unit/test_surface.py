"""The operator's cleaning of Event messages and metric label values: remembered per text, so a
text asked for again is answered without running the detectors, and answered the same."""

from __future__ import annotations

from modelsmith.runtime.metrics import labels
from modelsmith.runtime.surface import ObjectName, clean_label, clean_name_label, clean_text


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


def test_a_namespace_or_run_name_shaped_like_a_machine_is_a_name_in_a_label() -> None:
    # The cluster named these objects: a label carrying one says which object, not where
    # something ran.
    for name in ("team-node-a1", "e2e-multi-node-3fa9c2", "gpu-node-17", "worker03"):
        assert labels(ObjectName(name), "Training") == [name, "Training"]
    # The same words as free text, where a machine's name says where something ran, are caught.
    assert labels("gpu-node-17") == ["[redacted:node]"]
    assert "gpu-node-17" not in clean_text("the pod ran on gpu-node-17 and failed")
    assert "team-node-a1" not in clean_text("scheduled on team-node-a1")


def test_a_name_label_still_loses_what_no_object_name_should_carry() -> None:
    # Dotted names are host names even where they name an object; tokens stay secrets.
    assert clean_name_label("db01.corp.internal") == "[redacted:host]"
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    assert token not in clean_name_label(token.lower())
    assert clean_name_label("ml-team") == "ml-team"
