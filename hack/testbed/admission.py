"""Waiting until the admission policies that take a CRD as their paramKind work.

The execution-target policy (`modelsmith-intake-execution-target`) resolves its paramKind, the
ExecutionTarget CRD, on its own schedule: some seconds after the CRD is Established, and again
after an API server restart. Until then its failurePolicy Fail refuses every intake with "failed
to configure policy", so whatever creates intakes right after installing the CRDs (the tests,
the benchmark) waits for it first."""

from __future__ import annotations

import json

from testbed.cluster import Cluster
from testbed.waiting import wait_for

DESCRIPTION = "the execution-target admission policy to resolve its paramKind"


def intake_admitted(cluster: Cluster) -> bool:
    """An intake naming no target passes the policy (server-side dry run) once it works."""
    from modelsmith.api import samples

    probe = samples.intake(namespace="default")
    probe["spec"]["executionTargetRef"]["name"] = "probe-names-no-target"
    out = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=json.dumps(probe), check=False
    )
    return out.returncode == 0


def wait_for_intake_admission(cluster: Cluster, timeout: float = 60) -> None:
    """Waits for the policy now, and makes a restarted API server count as back only once it
    works again."""
    wait_for(lambda: intake_admitted(cluster), timeout, DESCRIPTION)
    if not any(name == DESCRIPTION for name, _ in cluster.ready_checks):
        cluster.ready_checks.append((DESCRIPTION, lambda: intake_admitted(cluster)))
