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


def secret(
    owner: Mapping[str, Any], keys: TemporaryKeys, job_name: str | None = None
) -> dict[str, Any]:
    """The Secret holding `keys` for the Job named `job_name` (default: the owner's name),
    owned by `owner` as the API server returned it (a Job, or the JobSet of a multi-node
    step, whose pods are made from that Job's template): the owner's UID ties the Secret's
    life to it."""
    meta = owner["metadata"]
    reference = {
        "apiVersion": owner.get("apiVersion", "batch/v1"),
        "kind": owner.get("kind", "Job"),
        "name": meta["name"],
        "uid": meta["uid"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(job_name or meta["name"]),
            "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "ownerReferences": [reference],
        },
        "stringData": {
            "AWS_ACCESS_KEY_ID": keys.access_key,
            "AWS_SECRET_ACCESS_KEY": keys.secret_key,
            "AWS_SESSION_TOKEN": keys.session_token,
        },
    }


def mint(
    owner: Mapping[str, Any],
    job: Mapping[str, Any],
    role_arn: str,
    layout: RunLayout,
    step: tuple[str, int],
) -> dict[str, Any]:
    """The Secret of `job`'s own credential, owned by `owner`: keys from STS for writing only
    the outputs of `step` (kind, iteration), valid as long as the Job's deadline."""
    kind, iteration = step
    policy = storepolicy.job_session_policy(layout.bucket, outputs(layout, kind, iteration))
    deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
    name = job["metadata"]["name"]
    return secret(owner, assume(role_arn, name, policy, duration(deadline)), name)


def give(
    owner: Mapping[str, Any],
    job: Mapping[str, Any],
    role_arn: str,
    layout: RunLayout,
    step: tuple[str, int],
) -> None:
    """Creates `job`'s own credential Secret, owned by `owner` (the Job itself, or the JobSet
    made from it). Its pods wait for it (the kubelet retries a missing Secret), so the owner is
    created first. A Secret already under the name is left alone: it is this Job's from before
    a restart, or, if someone else's, it holds no more than its author could write anyway."""
    manifest = mint(owner, job, role_arn, layout, step)
    namespace = owner["metadata"]["namespace"]
    try:
        kube.rest("POST", kube.core_path("secrets", namespace), manifest)
    except Exception as exc:
        if not kube.is_conflict(exc):
            raise
