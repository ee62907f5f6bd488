"""Unit tests for the operator's plumbing: status diffing, Job rendering, status <-> loop state."""

from __future__ import annotations

from datetime import UTC, datetime

from job_samples import rendered_job

from modelsmith import loop
from modelsmith.api.target import ExecutionTargetSpec, Toleration
from modelsmith.contract.layout import StoreLocation, for_run, run_key
from modelsmith.controllers.run.job_manifest import KUEUE_QUEUE_LABEL
from modelsmith.controllers.run.state import state_from_status, status_from_state
from modelsmith.runtime.status import merge_patch


def test_merge_patch_is_empty_when_nothing_changed() -> None:
    old = {"phase": "Training", "scores": {"current": 1, "heldout": None}, "history": [{"a": 1}]}
    new = {"phase": "Training", "scores": {"current": 1.0, "heldout": None}, "history": [{"a": 1}]}
    assert merge_patch(old, new) == {}


def test_merge_patch_carries_changes_and_clears_with_null() -> None:
    old = {"phase": "Blocked", "blockedBy": {"kind": "infrastructure"}, "scores": {"current": 0.2}}
    new = {"phase": "Training", "blockedBy": None, "scores": {"current": 0.5}}
    assert merge_patch(old, new) == {
        "phase": "Training",
        "blockedBy": None,
        "scores": {"current": 0.5},
    }


def _target(**overrides: object) -> ExecutionTargetSpec:
    base: dict[str, object] = {
        "namespace_selector": {},
        "service_account_name": "runner",
        "trainer_image": "registry.example/trainer:1",
        "evaluator_image": "registry.example/evaluator:1",
        "max_gpus": 4,
    }
    base.update(overrides)
    return ExecutionTargetSpec.model_validate(base)


def test_job_carries_target_placement_and_secret_references_only() -> None:
    target = _target(
        node_selector={"pool": "gpu"},
        tolerations=[Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
        priority_class_name="training",
        kueue_queue="team-a",
    )
    job = rendered_job(target)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The admin's pinned image, never one an intake names.
    assert container["image"] == "registry.example/trainer:1"
    assert pod["serviceAccountName"] == "runner"
    assert container["args"] == ["--spec-json", '{"iteration": 1}']
    assert job["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "team-a"
    # Created suspended, as Kueue expects; Kueue unsuspends it on admission.
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"][0]["key"] == "gpu"
    assert pod["priorityClassName"] == "training"
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    secrets = [e for e in container["env"] if e["name"].startswith("AWS_")]
    assert secrets and all("value" not in e or e["name"] == "AWS_ENDPOINT_URL_S3" for e in secrets)
    assert {e["name"] for e in secrets if "valueFrom" in e} >= {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }


def test_job_tells_the_images_its_cpu_request_in_whole_cores() -> None:
    from testbed import podenv

    job = rendered_job(_target(cpu_request="1500m"), spec_json="{}")
    pod = job["spec"]["template"] | {"metadata": {"name": "p", "namespace": "ns"}}
    keys = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"}
    secret = {"kind": "Secret", "stringData": keys}
    # As the kubelet (and the test bed's node agent) resolves it: rounded up to the divisor.
    env = podenv.environment(pod, pod["spec"]["containers"][0], lambda *_: secret)
    assert env["MODELSMITH_CPU_REQUEST"] == "2"


def test_job_in_another_namespace_has_no_owner_reference() -> None:
    job = rendered_job(
        _target(job_namespace="gpu-pool"),
        name="r-i0-eval-a1",
        kind="eval",
        iteration=0,
        spec_json="{}",
    )
    assert job["metadata"]["namespace"] == "gpu-pool"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example/evaluator:1"
    )
    assert "ownerReferences" not in job["metadata"]
    # No CPU request, no thread hint: the images fall back to their cgroup and affinity.
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "MODELSMITH_CPU_REQUEST" not in {e["name"] for e in env}
    # Evaluation needs at most one accelerator whatever training uses.
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/gpu": "1"
    }


def test_status_round_trips_the_loop_state() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    state = loop.RunState(
        phase=loop.Phase.TRAINING,
        iteration=2,
        attempt=1,
        scores=loop.Scores(current=0.4, previous_accepted=0.4, baseline=0.1, heldout=0.3),
        accepted_iteration=1,
        iterations_without_improvement=1,
        job=loop.JobRef(
            name=loop.job_name("r", "0a1b2c3d", 2, loop.Phase.TRAINING, 1),
            phase=loop.Phase.TRAINING,
            iteration=2,
            attempt=1,
            launched_at=now,
        ),
        recipe=loop.Recipe(rank=16),
        started_at=now,
        ledger_sequence=7,
    )
    raw = status_from_state(state)
    assert "name" not in raw["memory"]["job"]  # Job names stay off shared surfaces
    assert state_from_status("r", "0a1b2c3d", raw) == state


def test_layout_keys_derive_from_the_store_and_the_run_identity() -> None:
    key = run_key("ns", "uid-1")
    layout = for_run(StoreLocation("bucket", "teams/a/"), "ns", "run", "uid-1")
    assert (
        layout.scorecard(3) == f"s3://bucket/teams/a/runs/ns/run-{key}/iter-3/eval/scorecard.json"
    )
    assert layout.ledger(12) == f"s3://bucket/teams/a/runs/ns/run-{key}/ledger/000012.json"
    # The same name with another UID (deleted and created again) gets another prefix.
    again = for_run(StoreLocation("bucket", "teams/a/"), "ns", "run", "uid-2")
    assert again.prefix != layout.prefix and again.prefix.startswith("teams/a/runs/ns/run-")
