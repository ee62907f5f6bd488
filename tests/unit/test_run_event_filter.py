"""Which Job and pod watch events wake their run (no cluster needed)."""

from __future__ import annotations

import pytest

from modelsmith.handlers.run import job_event_matters, pod_event_matters

PENDING_UNSCHEDULABLE = {
    "phase": "Pending",
    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
}


@pytest.mark.parametrize(
    ("type_", "status", "wakes"),
    [
        ("ADDED", {}, False),  # just created by the reconcile that launched it
        ("MODIFIED", {"active": 1}, True),
        ("MODIFIED", {"conditions": [{"type": "Complete", "status": "True"}]}, True),
        ("DELETED", {"active": 1}, True),
        (None, {}, True),  # the listing after a restart
        ("ADDED", {"active": 1}, True),  # seen first with news already on it
    ],
)
def test_job_events(type_: str | None, status: dict[str, object], wakes: bool) -> None:
    assert job_event_matters(type_, status) is wakes


@pytest.mark.parametrize(
    ("type_", "status", "wakes"),
    [
        ("ADDED", {"phase": "Pending"}, False),
        ("MODIFIED", PENDING_UNSCHEDULABLE, True),
        ("MODIFIED", {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {}}}]}, True),
        ("MODIFIED", {"phase": "Running"}, True),
        ("MODIFIED", {"phase": "Succeeded"}, False),
        ("MODIFIED", {"phase": "Failed"}, False),
        ("DELETED", {"phase": "Running"}, False),
        (None, PENDING_UNSCHEDULABLE, True),
    ],
)
def test_pod_events(type_: str | None, status: dict[str, object], wakes: bool) -> None:
    assert pod_event_matters(type_, status) is wakes
