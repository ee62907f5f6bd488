"""A Job's own store credential, the pure parts: the session policy, its lifetime, the Secret,
and which Secret the Job reads (tests/integration/test_job_credentials.py proves them against a
store that enforces session policies)."""

from __future__ import annotations

from typing import Any

from modelsmith import storepolicy
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.contract import storecredential
from modelsmith.contract.layout import RunLayout
from modelsmith.controllers.run import jobcredentials
from modelsmith.controllers.run.job_manifest import render_job
from modelsmith.controllers.run.jobset_manifest import render_jobset
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


def _job(object_store: dict[str, str] | None, namespace: str = "team") -> dict[str, Any]:
    spec: dict[str, Any] = {"namespace_selector": {}, "service_account_name": "runner",
                            "trainer_image": "t:1", "evaluator_image": "e:1", "max_gpus": 1,
                            "object_store_secret_ref": {"name": "shared"}}
    if namespace != "team":
        spec["job_namespace"] = namespace
    if object_store is not None:
        spec["object_store"] = object_store
    return render_job(name="run-i1-train-a1", run_name="run", run_namespace="team",
                      run_uid="u", kind="train", iteration=1, attempt=1, spec_json="{}",
                      target=ExecutionTargetSpec.model_validate(spec), gpu_count=1,
                      settings=OperatorSettings())


def _env(job: dict[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = job["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def _secrets_read(job: dict[str, Any]) -> set[str]:
    return {e["valueFrom"]["secretKeyRef"]["name"] for e in _env(job)
            if "secretKeyRef" in e.get("valueFrom", {})}


ROLE = {"jobRoleArn": "arn:aws:iam::123456789012:role/modelsmith-jobs"}
KEYS = jobcredentials.TemporaryKeys("AK", "SK", "TOKEN")


def test_a_secret_name_cannot_be_known_before_the_operator_makes_it() -> None:
    names = {jobcredentials.secret_name("run-i1-train-a1") for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith("run-i1-train-a1-store-") and len(n) == 32 for n in names)


def test_the_secret_is_immutable_owned_by_the_run_and_holds_only_the_keys() -> None:
    job = _job(ROLE)
    secret = jobcredentials.secret(job, "run-i1-train-a1-store-0a1b2c3d4e", KEYS)
    assert secret["immutable"] is True
    assert secret["metadata"]["namespace"] == "team"
    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "modelsmith.io/v1alpha1", "kind": "IterationRun", "name": "run",
         "uid": "u"}]
    assert secret["metadata"]["labels"]["modelsmith.io/run-uid"] == "u"
    assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK",
                                    "AWS_SESSION_TOKEN": "TOKEN"}
    # In another namespace the run cannot own it (ownerReferences do not cross namespaces).
    elsewhere = jobcredentials.secret(_job(ROLE, "jobs"), "x", KEYS)
    assert elsewhere["metadata"]["namespace"] == "jobs"
    assert "ownerReferences" not in elsewhere["metadata"]


def test_a_job_with_its_own_credential_reads_only_the_keys_and_names_their_digest() -> None:
    # Rendered, the Job reads no credential at all: it cannot be created before its Secret is
    # made and bound to it.
    assert _secrets_read(_job(ROLE)) == set()
    secret = jobcredentials.secret(_job(ROLE), "run-i1-train-a1-store-0a1b2c3d4e", KEYS)
    bound = jobcredentials.bind(_job(ROLE), secret["metadata"]["name"],
                                storecredential.digest(secret["stringData"]))
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in _env(bound)
            if "secretKeyRef" in e.get("valueFrom", {})}
    # Never an endpoint or a region from it: those would point the Job at another store.
    assert set(refs) == set(storecredential.KEYS)
    assert all(r == {"name": secret["metadata"]["name"], "key": k} for k, r in refs.items())
    values = {e["name"]: e["value"] for e in _env(bound) if "value" in e}
    assert storecredential.refusal({**secret["stringData"], **values}) is None
    forged = {**secret["stringData"], "AWS_ACCESS_KEY_ID": "THEIRS"}
    assert storecredential.refusal({**forged, **values}) is not None


def test_every_pod_of_a_multinode_step_reads_the_steps_bound_credential() -> None:
    bound = jobcredentials.bind(_job(ROLE), "run-i1-train-a1-store-0a1b2c3d4e", "d" * 64)
    jobset = render_jobset(bound, 2)
    child = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
    env = child["spec"]["containers"][0]["env"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env
            if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {"run-i1-train-a1-store-0a1b2c3d4e"}
    assert {"name": storecredential.ENV, "value": "d" * 64} in env


def test_a_target_without_a_job_role_reads_its_shared_secret_and_checks_nothing() -> None:
    job = _job(None)
    assert _secrets_read(job) == {"shared"}
    assert storecredential.ENV not in {e["name"] for e in _env(job)}
    assert storecredential.refusal({"AWS_ACCESS_KEY_ID": "any"}) is None
