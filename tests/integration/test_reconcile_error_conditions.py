"""One rule for every reconcile error (issue 19), on the real API server: whatever a reconcile
raises shows on the object as a condition with a specific reason, one Warning Event per cause
(not one per retry), a next action, and tries spaced by a growing backoff.

- A ModelIntake stored before a rule that now refuses it (here `hf://x`, stored while the CRD
  lacked the base-model URI rule, as after an upgrade) was Ready or silent, and a run on it had an
  empty status while the operator logged a validation error every 10 s: now the intake is
  Ready=False StoredObjectInvalid naming the field, and the run is Blocked the same way.
- A run whose reconcile the sanitiser refuses (evidence that would leak) stayed in Assessing
  saying the assessment runs: now it is Blocked (EvidenceRefused, quality) where it was, with the
  phase it resumes to, and the message names the kinds and places of the leaks, never the text.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelsmith.api import samples
from modelsmith.evidence.sanitiser import Sanitiser
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.settings import OperatorSettings
from testbed.cluster import Cluster
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

pytestmark = pytest.mark.cluster

INTAKE_CRD = Path(__file__).resolve().parents[2] / "crds" / "modelintakes.yaml"
TOKEN = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9z"


def _get(cluster: Cluster, plural: str, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", plural, name, "-n", namespace, "-o", "json").stdout
    body: dict[str, Any] = json.loads(out)
    return body


def _condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (body.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def _warnings(cluster: Cluster, namespace: str, kind: str, name: str, reason: str) -> list[str]:
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind={kind},involvedObject.name={name},type=Warning,reason={reason}",
        "-o",
        "json",
    ).stdout
    return [e["message"] for e in json.loads(out)["items"]]


# ----- a stored object that no longer validates ----------------------------------------------


@pytest.fixture
def lenient_intake_crd(crds: Cluster) -> Iterator[None]:
    """The ModelIntake CRD without its base-model URI rules, as before they existed; restored
    (as the `crds` fixture applies it) afterwards."""
    crd = json.loads(crds.kubectl("get", "crd", "modelintakes.modelsmith.io", "-o", "json").stdout)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    uri = schema["properties"]["spec"]["properties"]["baseModel"]["properties"]["uri"]
    uri.pop("x-kubernetes-validations", None)
    uri.pop("pattern", None)
    crds.kubectl("replace", "-f", "-", input=json.dumps(crd))
    try:
        yield
    finally:
        _restore_intake_crd(crds)


def _restore_intake_crd(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(INTAKE_CRD))


def _create_stale_intake(cluster: Cluster, namespace: str, name: str) -> None:
    body = samples.intake(name, namespace)
    body["spec"]["baseModel"]["uri"] = "hf://x"

    def created() -> bool:
        # The API server serves the relaxed schema moments after the CRD update.
        result = cluster.kubectl("create", "-f", "-", input=json.dumps(body), check=False)
        return result.returncode == 0

    wait_for(created, timeout=30, interval=0.5, description="the intake stored")


_ATTEMPT = (
    r"reconcile of modelintakes {ns}/{name} failed \(StoredObjectInvalid, attempt (\d+)\); "
    r"next try in ([0-9.]+)s"
)


def _attempts(operator: OperatorProcess, namespace: str, name: str) -> list[tuple[int, float]]:
    pattern = re.compile(_ATTEMPT.format(ns=re.escape(namespace), name=re.escape(name)))
    text = operator.log_path.read_text(errors="replace")
    return [(int(m.group(1)), float(m.group(2))) for m in pattern.finditer(text)]


def test_a_stored_intake_that_no_longer_validates_shows_why_on_itself_and_its_run(
    operator: OperatorProcess,
    crds: Cluster,
    namespace: str,
    lenient_intake_crd: None,
) -> None:
    _create_stale_intake(crds, namespace, "stale")
    _restore_intake_crd(crds)  # the rule is back: the stored intake no longer passes it
    run = samples.run("on-stale", namespace)
    run["spec"]["intakeRef"]["name"] = "stale"
    crds.kubectl("create", "-f", "-", input=json.dumps(run))

    def intake_refused() -> dict[str, Any] | None:
        ready = _condition(_get(crds, "modelintakes", namespace, "stale"), "Ready")
        return ready if ready.get("reason") == "StoredObjectInvalid" else None

    ready = wait_for(intake_refused, timeout=60, interval=1, description="intake refused")
    assert ready["status"] == "False"
    assert "the stored ModelIntake no longer passes the operator's schema" in ready["message"]
    assert "spec.baseModel.uri" in ready["message"]
    assert "Next: re-apply the ModelIntake with the fields named corrected" in ready["message"]
    assert "hf://x" not in ready["message"]  # named by field, never by value

    def run_blocked() -> dict[str, Any] | None:
        status = _get(crds, "iterationruns", namespace, "on-stale").get("status") or {}
        return status if status.get("phase") == "Blocked" else None

    status = wait_for(run_blocked, timeout=60, interval=1, description="run blocked")
    assert status["blockedBy"]["reason"] == "StoredObjectInvalid"
    assert status["blockedBy"]["kind"] == "quality"
    assert "spec.baseModel.uri" in status["blockedBy"]["message"]
    assert status["nextAction"].startswith("re-apply the ModelIntake")
    assert status["memory"]["resumePhase"] == "Pending"
    body = _get(crds, "iterationruns", namespace, "on-stale")
    assert _condition(body, "Blocked")["status"] == "True"
    assert _condition(body, "Progressing")["reason"] == "StoredObjectInvalid"

    # Tries spaced by a growing delay; one Warning per cause, however many tries.
    attempts = wait_for(
        lambda: (found := _attempts(operator, namespace, "stale")) and found[-1][0] >= 3 and found,
        timeout=90,
        interval=1,
        description="three tries of the intake",
    )
    delays = [delay for _, delay in attempts]
    assert delays == sorted(delays) and delays[-1] >= 4 * delays[0], attempts
    events_seen = _warnings(crds, namespace, "ModelIntake", "stale", "StoredObjectInvalid")
    assert len(events_seen) == 1, events_seen
    assert "spec.baseModel.uri" in events_seen[0]
    run_events = _warnings(crds, namespace, "IterationRun", "on-stale", "StoredObjectInvalid")
    assert len(run_events) == 1, run_events


# ----- a reconcile the sanitiser refuses -----------------------------------------------------


@pytest.mark.inprocess
def test_a_run_refused_by_the_sanitiser_is_blocked_where_it_was(
    crds: Cluster, namespace: str, operator_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The reconcile is the test's (it raises what staging raises when the evidence would
    leak); the reconciler, the status written and the Events are the operator's own."""
    created = kube.rest(
        "POST", kube.custom_path("iterationruns", namespace), samples.run("leaky", namespace)
    )
    kube.patch_status(
        "iterationruns",
        namespace,
        "leaky",
        {
            "phase": "Assessing",
            "iteration": 1,
            "attempt": 1,
            "memory": {"ledgerSequence": 3},
            "conditions": [],
        },
    )

    def reconcile(ns: str, name: str) -> float | None:
        Sanitiser().assert_clean(
            {"rollback": {"expectation": f"see https://wiki.corp.example/rb {TOKEN}"}},
            "evidence bundle",
        )
        return None

    def delays() -> list[float]:
        found = (
            re.search(r"leaky failed \(EvidenceRefused, attempt \d+\); next try in ([0-9.]+)s", m)
            for m in (r.getMessage() for r in caplog.records)
        )
        return [float(m.group(1)) for m in found if m]

    rt = Runtime(OperatorSettings(workers=1))
    reconciler = rt.queue
    reconciler.register("iterationruns", reconcile)
    key = ("iterationruns", namespace, "leaky")
    caplog.set_level(logging.ERROR, logger="modelsmith.reconciler")
    try:
        reconciler.reconcile(*key)
        # Tried again after 5 s, then 10 s: the third failure asks for 20 s.
        wait_for(lambda: len(delays()) >= 3, timeout=40, interval=0.5, description="3 tries")
        assert rt.failures.attempts(key) >= 3
    finally:
        reconciler.stop()
        reconciler.forget(key)
        rt.events.flush(30)
    assert delays()[:3] == [5.0, 10.0, 20.0], delays()

    body = _get(crds, "iterationruns", namespace, "leaky")
    assert body["metadata"]["uid"] == created["metadata"]["uid"]
    status = body["status"]
    assert status["phase"] == "Blocked"
    assert status["blockedBy"]["reason"] == "EvidenceRefused"
    assert status["blockedBy"]["kind"] == "quality"
    assert status["memory"]["resumePhase"] == "Assessing"
    assert "lastTransition" not in status  # no transition of the loop: the ledger never saw it
    message = status["blockedBy"]["message"]
    assert "the sanitiser refused what the operator would write on the evidence bundle" in message
    assert "$.rollback.expectation" in message
    assert TOKEN not in json.dumps(status) and "wiki.corp.example" not in json.dumps(status)
    assert "remove the flagged text" in status["nextAction"]
    assert _condition(body, "Blocked")["reason"] == "EvidenceRefused"
    warned = _warnings(crds, namespace, "IterationRun", "leaky", "EvidenceRefused")
    assert len(warned) == 1 and TOKEN not in warned[0], warned
