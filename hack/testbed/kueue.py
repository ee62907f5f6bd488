"""Kueue (batch admission) beside the test bed's control plane: its manager as a local process,
its CRDs and webhook registrations from the same pinned module (hack/controlplane/build.sh puts
them in the bin folder's `kueue-config/`), and its visibility API aggregated into the API server.

Everything the cluster reaches is on loopback, as for the node agent:
- webhooks (admission and CRD conversion) are served as `testbed.addon` describes; Kueue's own
  certificate rotation is off, it serves a certificate this module issues;
- the visibility API server is an APIService whose Service is ExternalName `localhost`, which the
  aggregator dials as `localhost:<port>` (a Service cannot have loopback endpoints).

Kueue's manager hard-codes the folders of its visibility and metrics certificates
(FIXED_CERT_DIRS); it runs in a private mount namespace with this test bed's certificate folder
bound there, so parallel test beds never share one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client

from testbed import procs
from testbed.addon import Addon, webhook_resources
from testbed.cluster import Cluster
from testbed.jobset import JobSet
from testbed.kube import Json, read_json
from testbed.waiting import wait_for

NAME = "kueue"
NAMESPACE = "kueue-system"
VISIBILITY_SERVICE = "visibility-server"
API_GROUP = "kueue.x-k8s.io"
# The integrations the product uses (Jobs, and JobSets for training over several nodes); the
# others' webhooks would name kinds this cluster does not serve.
FRAMEWORKS = ("batch/job", "jobset.x-k8s.io/jobset")
# Webhook registrations kept from Kueue's manifests: those for Kueue's own kinds, batch Jobs and
# JobSets.
WEBHOOK_RESOURCES = {"jobs", "jobsets", "clusterqueues", "resourceflavors", "workloads", "cohorts"}
# The CRDs Kueue's kustomization gives a conversion webhook (v1beta1 <-> v1beta2).
CONVERTED = ("localqueues", "clusterqueues", "cohorts", "workloads", "multikueueclusters")
RESOURCE_FLAVOR = "gpu"
# Where Kueue's manager reads certificates whatever its configuration says, with its own
# certificate management off: the visibility server's and the metrics server's.
FIXED_CERT_DIRS = ("/visibility", "/etc/kueue/metrics/certs")


@dataclass(frozen=True)
class KueuePorts:
    webhook: int
    health: int
    visibility: int

    @classmethod
    def pick(cls) -> KueuePorts:
        return cls(procs.free_port(), procs.free_port(), procs.free_port())


class Kueue(Addon):
    """Kueue's manager running against the cluster; `start` sets it up, `stop` ends it."""

    NAME = NAME

    def __init__(self, cluster: Cluster, ports: KueuePorts) -> None:
        super().__init__(cluster, ports.webhook, ports.health)
        self.ports = ports

    @classmethod
    def start(cls, cluster: Cluster, timeout: float = 180.0) -> Kueue:
        kueue = cls(cluster, KueuePorts.pick())
        # One certificate for both servers: the aggregator checks the visibility server against
        # `<service>.<namespace>.svc`.
        kueue.issue_cert(f"{VISIBILITY_SERVICE}.{NAMESPACE}.svc")
        kueue.install_crds(kueue._convert)
        # JobSet's CRD first, so Kueue manages JobSets from its start (it would otherwise poll
        # for the API with a growing backoff); JobSet's own manager starts with its fixture.
        JobSet.install_crds_only(cluster)
        kueue._spawn()
        deadline = time.monotonic() + timeout
        kueue.wait(kueue.ready, deadline, "Kueue /readyz")
        kueue.apply(kueue.webhook_configurations(
            lambda webhook: bool(webhook_resources(webhook) & WEBHOOK_RESOURCES)))
        kueue._register_visibility()
        kueue.wait(kueue._visibility_available, deadline, "Kueue's visibility APIService")
        return kueue

    @classmethod
    def attach(cls, cluster: Cluster) -> Kueue | None:
        """The Kueue this test bed already runs, or None."""
        state = cluster.run_dir / NAME / "kueue.json"
        if not procs.alive(cluster.run_dir, NAME) or not state.exists():
            return None
        return cls(cluster, KueuePorts(**json.loads(state.read_text())))

    # ----- setup -------------------------------------------------------------------------------

    def _convert(self, crd: Json) -> None:
        if crd["spec"]["names"]["plural"] in CONVERTED:
            crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"url": self.url("/convert"), "caBundle": self.ca_bundle},
            }}

    def _config(self) -> Path:
        config = {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": NAMESPACE,
            "manageJobsWithoutQueueName": False,
            "health": {"healthProbeBindAddress": f"127.0.0.1:{self.ports.health}"},
            "metrics": {"bindAddress": "0"},
            "webhook": {"host": "127.0.0.1", "port": self.ports.webhook,
                        "certDir": str(self.cert_dir)},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "integrations": {"frameworks": list(FRAMEWORKS)},
            "visibilityServer": {"bindAddress": "127.0.0.1",
                                 "bindPort": self.ports.visibility},
        }
        path = self.dir / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _spawn(self) -> None:
        self.cluster.kubectl("create", "namespace", NAMESPACE, check=False)
        binary = self.cluster.bin_dir / "kueue"
        argv = [str(binary), f"--config={self._config()}", f"--kubeconfig={self.kubeconfig()}",
                "--zap-log-level=2"]
        # A private mount namespace binds this test bed's certificates at the fixed folders;
        # outside it they stay empty mount points.
        for folder in FIXED_CERT_DIRS:
            Path(folder).mkdir(parents=True, exist_ok=True)
        binds = " && ".join(f'mount --bind "$1" {folder}' for folder in FIXED_CERT_DIRS)
        script = f'{binds} && shift && exec "$@"'
        self.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                    str(self.cert_dir), *argv])
        (self.dir / "kueue.json").write_text(json.dumps(self.ports.__dict__))

    def _register_visibility(self) -> None:
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": VISIBILITY_SERVICE, "namespace": NAMESPACE},
                   "spec": {"type": "ExternalName", "externalName": "localhost"}}
        services = [
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
             "metadata": {"name": f"{version}.visibility.{API_GROUP}"},
             "spec": {"group": f"visibility.{API_GROUP}", "version": version,
                      "groupPriorityMinimum": 100, "versionPriority": 100,
                      "caBundle": self.ca_bundle,
                      "service": {"name": VISIBILITY_SERVICE, "namespace": NAMESPACE,
                                  "port": self.ports.visibility}}}
            for version in ("v1beta1", "v1beta2")
        ]
        self.apply([service, *services])

    def _visibility_available(self) -> bool:
        api = client.ApiregistrationV1Api(self.cluster.api_client())
        status = read_json(api.read_api_service, f"v1beta2.visibility.{API_GROUP}")["status"]
        return any(c["type"] == "Available" and c["status"] == "True"
                   for c in status.get("conditions") or [])


def gpu_queue(cluster: Cluster, namespace: str, cluster_queue: str, local_queue: str, gpus: int,
              cpu: str = "64", memory: str = "256Gi") -> None:
    """A GPU ResourceFlavor (shared), a ClusterQueue with `gpus` nvidia.com/gpu of quota (cpu and
    memory too: Kueue refuses a workload whose requests name a resource its queue does not
    cover), and a LocalQueue in `namespace` pointing at it."""
    documents = [
        {"apiVersion": f"{API_GROUP}/v1beta2", "kind": "ResourceFlavor",
         "metadata": {"name": RESOURCE_FLAVOR}},
        {"apiVersion": f"{API_GROUP}/v1beta2", "kind": "ClusterQueue",
         "metadata": {"name": cluster_queue},
         "spec": {"namespaceSelector": {}, "resourceGroups": [{
             "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
             "flavors": [{"name": RESOURCE_FLAVOR, "resources": [
                 {"name": "cpu", "nominalQuota": cpu},
                 {"name": "memory", "nominalQuota": memory},
                 {"name": "nvidia.com/gpu", "nominalQuota": gpus},
             ]}],
         }]}},
        {"apiVersion": f"{API_GROUP}/v1beta2", "kind": "LocalQueue",
         "metadata": {"name": local_queue, "namespace": namespace},
         "spec": {"clusterQueue": cluster_queue}},
    ]
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(documents))
    custom = client.CustomObjectsApi(cluster.api_client())

    def active() -> bool:
        queue = read_json(custom.get_cluster_custom_object, API_GROUP, "v1beta2",
                          "clusterqueues", cluster_queue)
        return any(c["type"] == "Active" and c["status"] == "True"
                   for c in queue.get("status", {}).get("conditions") or [])

    wait_for(active, 60, f"ClusterQueue {cluster_queue} Active")

