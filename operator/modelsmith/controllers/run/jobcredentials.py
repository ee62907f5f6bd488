"""A Job's own object-store credential, for targets that name a role for their Jobs
(`spec.objectStore.jobRoleArn`): the operator asks STS (AssumeRole) for temporary keys under
that role with a session policy that lets them write only the Job's own iteration outputs
(`storepolicy.job_session_policy`). The store grants the session the intersection of the
role's policy and the session policy: one Job's keys cannot write another iteration's or
another run's outputs, nor any run's records.

The keys go into a Secret made before the Job, so no Job ever exists without its credential
(a restart between the two leaves a Secret and no Job: the next reconcile makes both again).
Anyone who may write Secrets in the Job's namespace must not be able to hand the Job other
keys or another endpoint, so:
- the Secret's name ends in random characters, known only once the Secret exists: nobody can
  make it first;
- it is immutable: the API server refuses any change to its keys;
- the Job names the digest of its keys (`contract.storecredential`), and its container refuses
  to run with any others (a Secret deleted and made again under the same name);
- the Job reads only the three keys from it, never an endpoint or a region.
The Secret is owned by the run where the Job runs in the run's namespace (the garbage collector
deletes it with the run); the operator may only create Secrets, never read, change or delete
them.

The keys never pass through the operator's logs, status or Events: they go from STS's answer
straight into the Secret."""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import boto3

from modelsmith import storepolicy
from modelsmith.contract import storecredential
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
    """A new name for the Secret of the Job named `job`: the Job's name (at most 63 characters,
    a Secret's may have 253) and ten random hex characters, so no one can make a Secret under
    it before the operator does."""
    return f"{job}{SECRET_SUFFIX}-{secrets.token_hex(5)}"


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


def secret(job: Mapping[str, Any], name: str, keys: TemporaryKeys) -> dict[str, Any]:
    """The immutable Secret `name` holding `keys` for the Job manifest `job`, with its pods'
    labels, owned by the run where the Job's manifest names the run as its owner."""
    meta = job["metadata"]
    owners = [
        {k: o[k] for k in ("apiVersion", "kind", "name", "uid")}
        for o in meta.get("ownerReferences") or []
    ]
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": dict(job["spec"]["template"]["metadata"]["labels"]),
    }
    if owners:
        metadata["ownerReferences"] = owners
    values = dict(zip(storecredential.KEYS, (keys.access_key, keys.secret_key, keys.session_token),
                      strict=True))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": metadata,
        "stringData": values,
    }


def bind(job: Mapping[str, Any], name: str, keys_digest: str) -> dict[str, Any]:
    """`job` with its container reading its credential from the Secret `name`, and refusing
    any whose digest is not `keys_digest`."""
    bound = copy.deepcopy(dict(job))
    container = bound["spec"]["template"]["spec"]["containers"][0]
    # Rendered for a target with a Job role, the container reads no credential yet.
    for key in storecredential.KEYS:
        ref = {"secretKeyRef": {"name": name, "key": key}}
        container["env"].append({"name": key, "valueFrom": ref})
    container["env"].append({"name": storecredential.ENV, "value": keys_digest})
    return bound


def give(
    job: Mapping[str, Any], role_arn: str, layout: RunLayout, step: tuple[str, int]
) -> dict[str, Any]:
    """Creates the Secret of the Job manifest `job`'s own credential, with keys from STS for
    writing only the outputs of `step` (kind, iteration), valid as long as the Job's deadline.
    Returns the manifest bound to it (`bind`), to create next."""
    kind, iteration = step
    policy = storepolicy.job_session_policy(layout.bucket, outputs(layout, kind, iteration))
    deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
    job_name = job["metadata"]["name"]
    keys = assume(role_arn, job_name, policy, duration(deadline))
    manifest = secret(job, secret_name(job_name), keys)
    # A name taken already (never by chance) fails the launch; the next one draws another.
    kube.rest("POST", kube.core_path("secrets", manifest["metadata"]["namespace"]), manifest)
    return bind(job, manifest["metadata"]["name"], storecredential.digest(manifest["stringData"]))
