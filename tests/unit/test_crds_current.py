"""The checked-in CRDs are exactly what the models generate (`modelsmith crds` fixes this)."""

from __future__ import annotations

from pathlib import Path

from modelsmith.api import crdgen

REPO = Path(__file__).resolve().parents[2]


def test_checked_in_crds_are_current() -> None:
    stale = crdgen.stale(REPO)
    assert not stale, f"stale CRD files (run `modelsmith crds`): {stale}"


def test_chart_and_crds_folder_hold_identical_copies() -> None:
    for path in sorted((REPO / "crds").glob("*.yaml")):
        if (
            path.name.startswith("admission-")
            or path.name == "request-policies.yaml"
            or path.name.endswith("policy.yaml")
        ):
            continue  # the chart carries policies as templates (checked by test_chart)
        chart_copy = REPO / "charts" / "modelsmith" / "crds" / path.name
        assert chart_copy.read_text() == path.read_text(), path.name
