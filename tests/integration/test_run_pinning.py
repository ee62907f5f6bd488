"""A run's pinned inputs against the real API server and S3 server (moto): a ConfigMap-backed
Benchmark edited mid-run changes nothing the run's later Jobs read and becomes Invalid, never
Ready with the new content; a deleted intake blocks the run (IntakeMissing) and stops its Job
after the grace; re-created with another spec it stays blocked (IntakeChanged); with the same
spec the run resumes on the pinned inputs. The intake's training data is pinned too: its
digest in status, a training Job's material built from the pinned bytes however the ConfigMap
changes, and those bytes read back only against the digest. The reconcilers run in the test
process."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import Any

import pytest
import yaml
from staged import run_layout

from modelsmith import loop
from modelsmith.api import samples
from modelsmith.api.intake import ModelIntake
from modelsmith.contract.layout import run_key
from modelsmith.contract.objectstore import Store
from modelsmith.controllers.benchmark.reconcile import reconcile as reconcile_benchmark
from modelsmith.controllers.run import pinning, staging
from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.controllers.run.state import state_from_status
from modelsmith.controllers.run.trainingdata import write_training_material
from modelsmith.runtime import kube
from modelsmith.runtime.conditions import condition, set_condition
from modelsmith.runtime.core import Runtime
from testbed import rbac
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = Store()

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

RUN = "run"
TARGET = "pinning-unpullable"
EDITOR = "carol"

pytestmark = [pytest.mark.cluster, pytest.mark.inprocess, pytest.mark.usefixtures("own_runtime")]


def _get(plural: str, namespace: str, name: str) -> dict[str, Any]:
    body = kube.get_custom(plural, namespace, name)
    assert body is not None
    return body


def _job_spec(namespace: str, name: str) -> dict[str, Any]:
    job = kube.rest("GET", kube.batch_path("jobs", namespace, name))
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    spec: dict[str, Any] = json.loads(args[args.index("--spec-json") + 1])
    return spec


def _current_job(namespace: str) -> str:
    run = _get("iterationruns", namespace, RUN)
    state = state_from_status(
        RUN, run_key(namespace, run["metadata"]["uid"]), run["status"]
    )
    assert state.job is not None
    return state.job.name


def _reasons(namespace: str, name: str) -> list[tuple[str, str]]:
    RT.events.flush(30)
    items = kube.rest("GET", kube.core_path("events", namespace))["items"]
    return [(e["type"], e["reason"]) for e in items if e["involvedObject"]["name"] == name]


def _create_intake(namespace: str, spec: dict[str, Any]) -> None:
    body = {**samples.intake("intake", namespace), "spec": spec}
    created = kube.rest("POST", kube.custom_path("modelintakes", namespace), body)
    ready = set_condition(
        None, "Ready", True, "Validated", "ready", created["metadata"]["generation"]
    )
    kube.patch_status("modelintakes", namespace, "intake", {"conditions": ready})


def _delete_intake(namespace: str) -> None:
    kube.rest("DELETE", kube.custom_path("modelintakes", namespace, "intake"))
    for _ in range(100):
        if kube.get_custom("modelintakes", namespace, "intake") is None:
            return
        time.sleep(0.1)
    raise AssertionError("the intake was not deleted")


def _setup(
    cluster: Cluster, namespace: str, training_data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Benchmark read from a ConfigMap (reconciled: Ready), a ready intake on it (naming
    `training_data`, if given) whose Jobs never start (an image the node cannot pull: the Job
    stays held), and the run. Returns the intake's spec as created."""
    documents = samples.benchmark("bench", namespace, 20)["spec"]["scenarios"]
    kube.rest(
        "POST",
        kube.core_path("configmaps", namespace),
        {"metadata": {"name": "bench-scenarios"}, "data": {"s.yaml": yaml.safe_dump(documents)}},
    )
    bench = samples.benchmark("bench", namespace, 20)
    del bench["spec"]["scenarios"]
    bench["spec"]["scenariosFrom"] = {"configMapRef": {"name": "bench-scenarios", "key": "s.yaml"}}
    kube.rest("POST", kube.custom_path("benchmarks", namespace), bench)
    reconcile_benchmark(RT, namespace, "bench")
    assert (condition(_get("benchmarks", namespace, "bench")["status"], "Ready") or {}).get(
        "status"
    ) == "True"
    target = samples.execution_target(
        TARGET, evaluatorImage="modelsmith/unpullable:latest", jobNamespace=namespace
    )
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(target)
    )
    spec = samples.intake("intake", namespace)["spec"]
    spec["benchmarkRef"]["name"] = "bench"
    spec["executionTargetRef"]["name"] = TARGET
    if training_data is not None:
        spec["trainingData"] = training_data
    _create_intake(namespace, spec)
    run = samples.run(RUN, namespace)
    run["spec"]["intakeRef"]["name"] = "intake"
    kube.rest("POST", kube.custom_path("iterationruns", namespace), run)
    created: dict[str, Any] = _get("modelintakes", namespace, "intake")["spec"]
    return created


def test_pinned_inputs_survive_an_edited_benchmark_and_a_deleted_intake(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    object_store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _setup(crds, namespace)
    published = _get("benchmarks", namespace, "bench")["status"]["digest"]

    reconcile(RT, namespace, RUN)
    status = _get("iterationruns", namespace, RUN)["status"]
    assert status["phase"] == "EvaluatingBaseline", status
    pinned = status["pinned"]
    assert pinned["benchmarkDigest"] == published
    snapshot_hex = pinned["scenariosDigest"].removeprefix("sha256:")
    first = _current_job(namespace)
    assert snapshot_hex in _job_spec(namespace, first)["scenarios"]

    # The ConfigMap is edited in place under the same version: the Benchmark is Invalid for
    # good (not Ready again on the next look), its digest still the published one.
    source = kube.rest("GET", kube.core_path("configmaps", namespace, "bench-scenarios"))
    documents = yaml.safe_load(source["data"]["s.yaml"])
    original_prompt = documents[0]["prompt"]
    documents[0]["prompt"] = "An edited prompt that was never published under this version."
    # By an ordinary namespace editor: Kubernetes lets her, so the operator must not follow.
    _edit_rights(crds, namespace, EDITOR)
    patch = {"data": {"s.yaml": yaml.safe_dump(documents)}}
    crds.kubectl(
        "patch",
        "configmap",
        "bench-scenarios",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(patch),
        as_user=EDITOR,
    )
    for _ in range(2):
        reconcile_benchmark(RT, namespace, "bench")
        bench_status = _get("benchmarks", namespace, "bench")["status"]
        ready = condition(bench_status, "Ready") or {}
        assert (ready.get("status"), ready.get("reason")) == ("False", "ContentChanged")
        assert "bumped spec.version" in ready["message"]
        assert bench_status["digest"] == published
    assert ("Warning", "ContentChanged") in _reasons(namespace, "bench")

    # The intake is deleted mid-run: Blocked, with its Event and next action; the Job is
    # stopped after the grace (none here).
    monkeypatch.setattr(RT, "settings", dataclasses.replace(RT.settings, input_grace_seconds=0))
    _delete_intake(namespace)
    reconcile(RT, namespace, RUN)
    status = _get("iterationruns", namespace, RUN)["status"]
    assert (status["phase"], status["blockedBy"]["reason"]) == ("Blocked", "IntakeMissing")
    blocked = condition(status, "Blocked") or {}
    assert (blocked.get("status"), blocked.get("reason")) == ("True", "IntakeMissing")
    assert "ModelIntake intake was deleted" in status["blockedBy"]["message"]
    assert "Apply the ModelIntake again" in status["nextAction"]
    assert ("Warning", "IntakeMissing") in _reasons(namespace, RUN)
    reconcile(RT, namespace, RUN)
    assert _job_gone(namespace, first)
    assert (
        "its Job was stopped"
        in _get("iterationruns", namespace, RUN)["status"]["blockedBy"]["message"]
    )

    # Re-created with another spec: still blocked, as changed.
    _create_intake(namespace, {**spec, "owner": "another-team"})
    reconcile(RT, namespace, RUN)
    status = _get("iterationruns", namespace, RUN)["status"]
    assert (status["phase"], status["blockedBy"]["reason"]) == ("Blocked", "IntakeChanged")
    assert condition(status, "Blocked")["reason"] == "IntakeChanged"  # type: ignore[index]

    # Re-created with the spec the run started on: it resumes, its stopped Job starting again
    # as a new attempt, on the pinned snapshot, not on the edited ConfigMap.
    _delete_intake(namespace)
    _create_intake(namespace, spec)
    reconcile(RT, namespace, RUN)
    status = _get("iterationruns", namespace, RUN)["status"]
    assert (status["phase"], status["attempt"]) == ("EvaluatingBaseline", 2), status
    assert status["pinned"] == pinned
    second = _current_job(namespace)
    assert second != first
    job_spec = _job_spec(namespace, second)
    uri = job_spec["scenarios"]
    assert snapshot_hex in uri
    # The evaluator refuses other bytes than these (modelsmith_evaluator.scenarios.check_pinned).
    assert job_spec["scenarios_digest"] == pinned["scenariosDigest"]
    read = STORE.get_bytes(uri).decode()
    assert original_prompt in read and "never published" not in read

    # The evidence names the pinned digest and counts the pinned scenarios.
    pin = pinning.pinned(_get("iterationruns", namespace, RUN))
    assert pin is not None
    layout = run_layout(namespace, RUN, object_store.bucket)
    intake = ModelIntake.model_validate(_get("modelintakes", namespace, "intake"))
    kept = pinning.scenarios(RT, pin, layout, namespace, intake)
    facts = staging._benchmark_facts(intake, pin, kept)
    assert (facts.digest, facts.scenario_count) == (published, 20)

    # The stored spec is read back only against the pinned digest: rewritten, it is refused.
    STORE.put_bytes(layout.pinned(pinning.INTAKE_SPEC), json.dumps(spec).encode() + b" ")
    _delete_intake(namespace)
    with pytest.raises(pinning.PinMismatchError, match="intakeSpecDigest"):
        reconcile(RT, namespace, RUN)


def test_training_data_is_pinned_and_trained_on_as_pinned(
    operator_env: None, crds: Cluster, namespace: str, object_store: ObjectStore
) -> None:
    record = {"prompt": "Route this ticket to the right queue.", "answer": "billing"}
    raw = json.dumps(record).encode()
    kube.rest(
        "POST",
        kube.core_path("configmaps", namespace),
        {"metadata": {"name": "extra"}, "data": {"train.jsonl": raw.decode()}},
    )
    _setup(crds, namespace, {"configMapRef": {"name": "extra", "key": "train.jsonl"}})
    reconcile(RT, namespace, RUN)
    status = _get("iterationruns", namespace, RUN)["status"]
    assert status["phase"] == "EvaluatingBaseline", status
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert status["pinned"]["trainingDataDigest"] == digest

    # The ConfigMap is edited mid-run: a training Job's material comes from the pinned bytes
    # (what controllers/run/act.py hands write_training_material), never from the edit.
    edited = json.dumps({**record, "answer": "an answer the run never pinned"})
    kube.rest(
        "PATCH",
        kube.core_path("configmaps", namespace, "extra"),
        {"data": {"train.jsonl": edited}},
        content_type=kube.MERGE_PATCH,
    )
    reconcile(RT, namespace, RUN)
    assert _get("iterationruns", namespace, RUN)["status"]["pinned"]["trainingDataDigest"] == digest
    pin = pinning.pinned(_get("iterationruns", namespace, RUN))
    assert pin is not None
    layout = run_layout(namespace, RUN, object_store.bucket)
    intake = ModelIntake.model_validate(_get("modelintakes", namespace, "intake"))
    supplied = pinning.training_data(STORE, pin, layout, intake)
    assert supplied == raw
    launch = loop.LaunchJob(
        name="train", kind="train", phase=loop.Phase.TRAINING, iteration=1, attempt=1
    )
    kept = pinning.scenarios(RT, pin, layout, namespace, intake)
    assert write_training_material(STORE, kept, launch, layout, supplied, ()) == digest
    lines = [json.loads(line) for line in STORE.get_bytes(layout.train_data(1)).splitlines()]
    assert [line["reference"] for line in lines if line.get("supplied")] == ["billing"]

    # The stored copy is read back only against the pinned digest: rewritten, it is refused.
    STORE.put_bytes(layout.pinned(pinning.TRAINING_DATA), edited.encode())
    with pytest.raises(pinning.PinMismatchError, match="trainingDataDigest"):
        pinning.training_data(STORE, pin, layout, intake)


def _edit_rights(cluster: Cluster, namespace: str, user: str) -> None:
    binding = rbac.binding(namespace, f"{user}-edit", [user], cluster_role="edit")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(binding))
    rbac.wait_until_allowed(cluster, namespace, [("patch", "configmaps", user)])


def _job_gone(namespace: str, name: str) -> bool:
    for _ in range(100):
        job = kube.find(kube.batch_path("jobs", namespace, name))
        if job is None or job["metadata"].get("deletionTimestamp") is not None:
            return True
        time.sleep(0.1)
    return False
