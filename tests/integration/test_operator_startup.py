"""What the operator process tells whoever reads its log at start-up."""

from __future__ import annotations

from testbed.operator import OperatorProcess


def test_the_operator_logs_its_metrics_port_and_what_it_watches(
    operator: OperatorProcess,
) -> None:
    text = operator.log_path.read_text(errors="replace")
    assert (
        f"serving metrics on port {operator.metrics_port} at /metrics; "
        "watching the whole cluster; standalone"
    ) in text, operator.log_tail()
