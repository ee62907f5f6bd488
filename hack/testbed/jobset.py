"""JobSet (groups of Jobs, for multi-node training) beside the test bed's control plane: its
manager as a local process, its CRD and webhook registrations from the same pinned module
(hack/controlplane/build.sh puts them in the bin folder's `jobset-config/`). Webhooks are served
on loopback as `testbed.addon` describes; JobSet's own certificate rotation is off, it serves a
certificate the test bed issues.

The JobSet's pods reach each other by host name (`<jobset>-<job>-<job index>-<pod index>.<jobset>`)
through the node agent's hosts file (`testbed.podnet`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from testbed import procs
from testbed.addon import Addon, webhook_resources
from testbed.cluster import Cluster
from testbed.kube import Json

NAME = "jobset"
API_GROUP = "jobset.x-k8s.io"
# JobSet's kustomization limits its pod webhooks to the pods of JobSets; without it every pod
# creation in the cluster would go through this manager.
JOBSET_PODS = {"matchExpressions": [{"key": "jobset.sigs.k8s.io/jobset-name",
                                     "operator": "Exists"}]}


@dataclass(frozen=True)
class JobSetPorts:
    webhook: int
    health: int

    @classmethod
    def pick(cls) -> JobSetPorts:
        return cls(procs.free_port(), procs.free_port())


class JobSet(Addon):
    """JobSet's manager running against the cluster; `start` sets it up, `stop` ends it."""

    NAME = NAME

    def __init__(self, cluster: Cluster, ports: JobSetPorts) -> None:
        super().__init__(cluster, ports.webhook, ports.health)
        self.ports = ports

    @classmethod
    def start(cls, cluster: Cluster, timeout: float = 120.0) -> JobSet:
        jobset = cls(cluster, JobSetPorts.pick())
        jobset.issue_cert("127.0.0.1")
        jobset.install_crds()
        binary = cluster.bin_dir / NAME
        jobset.spawn([str(binary), f"--config={jobset._config()}",
                      f"--kubeconfig={jobset.kubeconfig()}", "--zap-log-level=2"])
        (jobset.dir / "jobset.json").write_text(json.dumps(jobset.ports.__dict__))
        jobset.wait(jobset.ready, time.monotonic() + timeout, "JobSet /readyz")
        jobset.apply(jobset._webhooks())
        return jobset

    @classmethod
    def install_crds_only(cls, cluster: Cluster) -> None:
        """JobSet's CRD without its manager (JobSets are stored, nothing runs them yet)."""
        cls(cluster, JobSetPorts(0, 0)).install_crds()

    @classmethod
    def attach(cls, cluster: Cluster) -> JobSet | None:
        """The JobSet manager this test bed already runs, or None."""
        state = cluster.run_dir / NAME / "jobset.json"
        if not procs.alive(cluster.run_dir, NAME) or not state.exists():
            return None
        return cls(cluster, JobSetPorts(**json.loads(state.read_text())))

    def _config(self) -> Path:
        config = {
            "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
            "kind": "Configuration",
            "health": {"healthProbeBindAddress": f"127.0.0.1:{self.ports.health}"},
            "metrics": {"bindAddress": "0"},
            "webhook": {"host": "127.0.0.1", "port": self.ports.webhook,
                        "certDir": str(self.cert_dir)},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
        }
        path = self.dir / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _webhooks(self) -> list[Json]:
        documents = self.webhook_configurations(lambda webhook: True)
        for configuration in documents:
            for webhook in configuration["webhooks"]:
                if "pods" in webhook_resources(webhook):
                    webhook["objectSelector"] = JOBSET_PODS
        return documents
