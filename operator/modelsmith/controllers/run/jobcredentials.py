"""A Job's own object-store credential, for targets that name a role for their Jobs
(`spec.objectStore.jobRoleArn`): the operator asks STS (AssumeRole) for temporary keys under
that role with a session policy that lets them write only the Job's own iteration outputs
(`storepolicy.job_session_policy`), and keeps them in a Secret the Job owns, so the garbage
collector deletes the Secret with the Job. The store grants the session the intersection of the
role's policy and the session policy: one Job's keys cannot write another iteration's or
another run's outputs, nor any run's records.

The keys never pass through the operator's logs, status or Events: they go from STS's answer
straight into the Secret."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import boto3

from modelsmith import storepolicy
from modelsmith.contract.layout import RunLayout
from modelsmith.runtime import kube

MIN_SECONDS: Final = 900
"""STS's shortest session."""
MAX_SECONDS: Final = 43200
"""STS's longest AssumeRole session (12 hours); a role's own MaxSessionDuration (AWS default:
one hour) must be at least the longest Job deadline, or STS refuses the request."""
DEFAULT_SECONDS: Final = 3600
"""A Job without an activeDeadlineSeconds gets this long."""

SECRET_SUFFIX: Final = "-store"
SESSION_NAME: Final = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class TemporaryKeys:
    access_key: str
    secret_key: str
    session_token: str


def secret_name(job: str) -> str:
    """The Secret a Job with its own credential reads (Job names are at most 63 characters)."""
    return job + SECRET_SUFFIX


def outputs(layout: RunLayout, kind: str, iteration: int) -> str:
    """The key prefix a Job of `kind` ("train" or "eval") writes: its iteration's candidate or
    evaluation."""
    return layout.iteration(iteration) + ("candidate/" if kind == "train" else "eval/")


def duration(deadline_seconds: int | None) -> int:
    """How long a Job's keys last: its deadline, within STS's bounds."""
    wanted = deadline_seconds or DEFAULT_SECONDS
    return max(MIN_SECONDS, min(MAX_SECONDS, wanted))


def assume(role_arn: str, session: str, policy: Mapping[str, Any], seconds: int) -> TemporaryKeys:
    """Temporary keys for `role_arn`, limited by `policy`. The STS endpoint is boto3's, from the
    operator's environment (AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL for stores other than
    AWS)."""
    answer = boto3.client("sts").assume_role(
        RoleArn=role_arn,
        RoleSessionName=SESSION_NAME.sub("-", session)[:64],
        Policy=json.dumps(policy, separators=(",", ":")),
        DurationSeconds=seconds,
    )
    creds = answer["Credentials"]
    return TemporaryKeys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def secret(job: Mapping[str, Any], keys: TemporaryKeys) -> dict[str, Any]:
    """The Secret holding `keys` for `job` (as the API server returned it: its UID is the
    Secret's owner)."""
    meta = job["metadata"]
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"]}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "ownerReferences": [owner],
        },
        "stringData": {
            "AWS_ACCESS_KEY_ID": keys.access_key,
            "AWS_SECRET_ACCESS_KEY": keys.secret_key,
            "AWS_SESSION_TOKEN": keys.session_token,
        },
    }


def mint(
    job: Mapping[str, Any], role_arn: str, layout: RunLayout, kind: str, iteration: int
) -> dict[str, Any]:
    """The Secret of `job`'s own credential: keys from STS for writing only its outputs, valid
    as long as its deadline."""
    policy = storepolicy.job_session_policy(layout.bucket, outputs(layout, kind, iteration))
    deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
    keys = assume(role_arn, job["metadata"]["name"], policy, duration(deadline))
    return secret(job, keys)


def give(
    job: Mapping[str, Any], role_arn: str, layout: RunLayout, kind: str, iteration: int
) -> None:
    """Creates `job`'s own credential Secret. Its pods wait for it (the kubelet retries a
    missing Secret), so the Job is created first and owns it. A Secret already under the name
    is left alone: it is this Job's from before a restart, or, if someone else's, it holds no
    more than its author could write anyway."""
    manifest = mint(job, role_arn, layout, kind, iteration)
    try:
        kube.rest("POST", f"/api/v1/namespaces/{job['metadata']['namespace']}/secrets", manifest)
    except Exception as exc:
        if not kube.is_conflict(exc):
            raise
