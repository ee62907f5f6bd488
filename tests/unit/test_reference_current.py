"""The README's resource reference is generated from the API models; stale means a field changed
without its documentation."""

from __future__ import annotations

from pathlib import Path

from modelsmith.api.reference import updated

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_reference_is_current() -> None:
    text = README.read_text()
    assert updated(text) == text, "run `modelsmith reference` to regenerate README.md"


def test_reference_documents_every_spec_field() -> None:
    text = README.read_text()
    for path in ("spec.executionTarget.gpuResourceName", "status.promotionRecord.digest",
                 "spec.scenarios[].pass[].kind", "status.blockedBy.kind"):
        assert f"`{path}`" in text
