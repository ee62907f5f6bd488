"""The JobSet (jobset.x-k8s.io) a training step on more than one node runs as, built around the
training Job `job_manifest.render_job` renders: one replicated Job whose Indexed Job runs one pod
per node, each the training Job's pod (image, ServiceAccount, Secret environment, scheduling,
the GPUs of one node). The trainer's launcher starts torchrun in each pod with the node count,
the node rank (the completion index the Job controller gives each pod) and the leader pod's
address, which the headless Service JobSet names after the JobSet makes resolvable."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any, Final

from modelsmith.engines import JOBSET_API_VERSION

PLURAL: Final = "jobsets"
REPLICATED_JOB: Final = "node"
"""Short on purpose: pod host names are <jobset>-<replicated job>-<job index>-<pod index>."""
JOBSET_NAME_LABEL: Final = "jobset.sigs.k8s.io/jobset-name"
COMPLETION_INDEX: Final = "batch.kubernetes.io/job-completion-index"
MAX_NAME: Final = 63 - len(f"-{REPLICATED_JOB}-0-0")
BASE_PORT: Final = 29500
PORTS: Final = 2000
_SERVICE_NAME: Final = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def jobset_name(step: str) -> str:
    """The JobSet's name for the training step named `step` (its Job name): the step's name
    when the pods' host names and the Service JobSet names after it stay DNS labels (a Service
    name starts with a letter), else a cut of it with 8 hex digits of its sha256, so the same
    step always gets the same name."""
    if len(step) <= MAX_NAME and _SERVICE_NAME.match(step):
        return step
    digest = hashlib.sha256(step.encode()).hexdigest()[:8]
    return f"ms-{step}"[: MAX_NAME - len(digest) - 1].rstrip("-") + f"-{digest}"


def leader_address(name: str) -> str:
    """The host name of the JobSet `name`'s first pod, under the JobSet's headless Service."""
    return f"{name}-{REPLICATED_JOB}-0-0.{name}"


def rendezvous_port(name: str) -> int:
    """The port torchrun's rendezvous listens on in the leader pod: fixed per JobSet, from its
    name, so two JobSets whose pods share a node's ports (host networking, or the test bed's
    node agent) do not meet each other's."""
    return BASE_PORT + int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % PORTS


def node_env(name: str, nodes: int) -> list[dict[str, Any]]:
    """What the trainer's launcher reads to start torchrun across the JobSet's pods."""
    index = {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}
    return [
        {"name": "MODELSMITH_NODE_COUNT", "value": str(nodes)},
        {"name": "MODELSMITH_NODE_RANK", "valueFrom": index},
        {"name": "MODELSMITH_MASTER_ADDR", "value": leader_address(name)},
        {"name": "MODELSMITH_MASTER_PORT", "value": str(rendezvous_port(name))},
    ]


def render_jobset(job: dict[str, Any], nodes: int) -> dict[str, Any]:
    """The JobSet for the training Job `job` (as `render_job` made it) spread over `nodes` pods.
    Its metadata is the Job's (labels, the Kueue queue label, the ownerReference) under the
    JobSet's name; the child Job and its pods carry the run's labels without the queue label,
    so the operator's watches see them and Kueue admits the JobSet as one Workload. The Job's
    `backoffLimit` becomes JobSet's `failurePolicy.maxRestarts`: a restart recreates every pod,
    and the training resumes from its last checkpoint."""
    name = jobset_name(job["metadata"]["name"])
    metadata = copy.deepcopy(job["metadata"])
    metadata["name"] = name
    spec = job["spec"]
    template = copy.deepcopy(spec["template"])
    container = template["spec"]["containers"][0]
    container["env"] = [*container["env"], *node_env(name, nodes)]
    child_labels = dict(template["metadata"]["labels"])
    child: dict[str, Any] = {
        "completionMode": "Indexed",
        "parallelism": nodes,
        "completions": nodes,
        # One pod failing fails the attempt: every node holds a share of each step.
        "backoffLimit": 0,
        "activeDeadlineSeconds": spec["activeDeadlineSeconds"],
        "template": template,
    }
    jobset_spec: dict[str, Any] = {
        "failurePolicy": {"maxRestarts": spec["backoffLimit"]},
        "replicatedJobs": [
            {
                "name": REPLICATED_JOB,
                "replicas": 1,
                "template": {"metadata": {"labels": child_labels}, "spec": child},
            }
        ],
    }
    if spec.get("suspend"):
        jobset_spec["suspend"] = True
    return {
        "apiVersion": JOBSET_API_VERSION,
        "kind": "JobSet",
        "metadata": metadata,
        "spec": jobset_spec,
    }
