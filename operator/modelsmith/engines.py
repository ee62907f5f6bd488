"""The workload engines a platform team may install beside the operator (README): Kueue, which
queues a target's Jobs, and JobSet, which runs training over more than one node. Where their APIs
are, and whether the cluster serves JobSet: the intake controller checks that what a target needs
is there, the run controller makes and reads the objects."""

from __future__ import annotations

from typing import Final

from modelsmith.runtime import kube

KUEUE: Final = "/apis/kueue.x-k8s.io/v1beta2"
JOBSET_API_VERSION: Final = "jobset.x-k8s.io/v1alpha2"


def jobset_installed() -> bool:
    """Whether the API server serves JobSets (the platform team installed JobSet)."""
    return kube.find(f"/apis/{JOBSET_API_VERSION}") is not None
