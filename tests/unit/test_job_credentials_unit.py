"""A Job's own store credential, the pure parts: the session policy, its lifetime, the Secret,
and which Secret the Job reads (tests/integration/test_job_credentials.py proves them against a
store that enforces session policies)."""

from __future__ import annotations

from modelsmith import storepolicy
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.contract.layout import RunLayout
from modelsmith.controllers.run import jobcredentials
from modelsmith.controllers.run.job_manifest import render_job
from modelsmith.runtime.settings import OperatorSettings

LAYOUT = RunLayout("ml", "team", "run", "0a1b2c3d", root="teams/a/")


def test_a_job_writes_only_its_own_iteration_output_and_staging() -> None:
    run = "teams/a/runs/team/run-0a1b2c3d/"
    assert jobcredentials.outputs(LAYOUT, "train", 2) == run + "iter-2/candidate/"
    assert jobcredentials.outputs(LAYOUT, "eval", 2) == run + "iter-2/eval/"
    policy = storepolicy.job_session_policy("ml", jobcredentials.outputs(LAYOUT, "eval", 2))
    writes = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in writes] == [[
        "arn:aws:s3:::ml/teams/a/runs/team/run-0a1b2c3d/iter-2/eval/*",
        "arn:aws:s3:::ml/.modelsmith-staging/*",
    ]]
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])


def test_the_keys_last_the_jobs_deadline_within_sts_bounds() -> None:
    assert jobcredentials.duration(None) == jobcredentials.DEFAULT_SECONDS
    assert jobcredentials.duration(60) == jobcredentials.MIN_SECONDS
    assert jobcredentials.duration(7200) == 7200
    assert jobcredentials.duration(10**6) == jobcredentials.MAX_SECONDS


def test_the_secret_is_owned_by_its_job_and_holds_the_session_token() -> None:
    job = {"metadata": {"name": "run-i1-train-a1", "namespace": "team", "uid": "u-1",
                        "labels": {"modelsmith.io/run": "run"}}}
    keys = jobcredentials.TemporaryKeys("AK", "SK", "TOKEN")
    secret = jobcredentials.secret(job, keys)
    assert secret["metadata"]["name"] == "run-i1-train-a1-store"
    assert secret["metadata"]["namespace"] == "team"
    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "run-i1-train-a1", "uid": "u-1"}]
    assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK",
                                    "AWS_SESSION_TOKEN": "TOKEN"}


def test_a_multinode_steps_secret_is_owned_by_its_jobset_and_named_for_the_step() -> None:
    jobset = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
              "metadata": {"name": "run-i1-train-a1-3f2a", "namespace": "team", "uid": "u-2"}}
    keys = jobcredentials.TemporaryKeys("AK", "SK", "TOKEN")
    secret = jobcredentials.secret(jobset, keys, "run-i1-train-a1")
    # The pods are made from the training Job's template, which names the step's Secret.
    assert secret["metadata"]["name"] == "run-i1-train-a1-store"
    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
         "name": "run-i1-train-a1-3f2a", "uid": "u-2"}]


def _secrets_read(object_store: dict[str, str] | None) -> set[str]:
    spec = {"namespace_selector": {}, "service_account_name": "runner",
            "trainer_image": "t:1", "evaluator_image": "e:1", "max_gpus": 1,
            "object_store_secret_ref": {"name": "shared"}}
    if object_store is not None:
        spec["object_store"] = object_store
    job = render_job(name="run-i1-train-a1", run_name="run", run_namespace="team",
                     run_uid="u", kind="train", iteration=1, attempt=1, spec_json="{}",
                     target=ExecutionTargetSpec.model_validate(spec), gpu_count=1,
                     settings=OperatorSettings())
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["valueFrom"]["secretKeyRef"]["name"] for e in env
            if "secretKeyRef" in e.get("valueFrom", {})}


def test_a_target_with_a_job_role_gives_each_job_its_own_secret_in_place_of_the_shared() -> None:
    assert _secrets_read(None) == {"shared"}
    role = {"jobRoleArn": "arn:aws:iam::123456789012:role/modelsmith-jobs"}
    assert _secrets_read(role) == {"run-i1-train-a1-store"}
