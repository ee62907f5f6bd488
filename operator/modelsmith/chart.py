"""Chart files generated from Python: the admission policy templates.

Every ValidatingAdmissionPolicy the chart ships is defined once, as manifests, in its module
(modelsmith.evidence.admission, .evidence.gate_creation, .request_admission,
.targets.admission); `modelsmith crds` writes each into the chart as a template
(modelsmith.policyfiles renders them), so the chart can never ship a hand-copied policy that
drifted from the one the tests exercise.
"""

from __future__ import annotations

from pathlib import Path

from modelsmith.evidence.admission import CHART_HEADER as HEADER
from modelsmith.evidence.admission import FILES as APPROVAL_FILES
from modelsmith.policyfiles import Manifests, chart_template, write_if_changed

ADMISSION_TEMPLATE = APPROVAL_FILES.chart_file

__all__ = [
    "ADMISSION_TEMPLATE",
    "HEADER",
    "Manifests",
    "admission_template_stale",
    "expected_admission_template",
    "render_admission_template",
    "write_admission_template",
]


def render_admission_template(manifests: Manifests, header: str = HEADER) -> str:
    """The template: every manifest, chart-labelled, inside `admissionPolicy.enabled`."""
    return chart_template(manifests, header)


def expected_admission_template() -> str:
    """What the chart's approval admission template should hold."""
    return APPROVAL_FILES.chart_template()


def admission_template_stale(root: Path) -> bool:
    """True when the chart's admission template under `root` (the repository) is missing or
    differs from the policy (for `modelsmith crds --check`)."""
    target = root / ADMISSION_TEMPLATE
    return not target.is_file() or target.read_text() != expected_admission_template()


def write_admission_template(root: Path) -> bool:
    """Writes the chart's admission policy template under `root` (the repository); returns
    whether the file changed."""
    return write_if_changed(root / ADMISSION_TEMPLATE, expected_admission_template())
