"""The test bed's node: a stand-in for the kubelet that runs pods as local processes.

    python -m testbed.nodeagent --kubeconfig K --node-name N --gpus 2 --cpu 8 --memory 32Gi \
        --run-dir D [--port P --serving-cert C --serving-key K --client-ca CA]

It authenticates as system:node:<N> (group system:nodes), so the API server's Node authorizer
and NodeRestriction admission hold it to what a kubelet may do. It
- registers Node N with capacity and allocatable cpu, memory, pods and nvidia.com/gpu;
- renews its Lease in kube-node-lease every --lease-seconds and posts its status (Ready=True,
  capacity) every --status-seconds, and at once when the GPU count changes;
- watches pods bound to it (fieldSelector spec.nodeName=N) and runs each (`testbed.podrunner`);
- serves container logs to the API server for `kubectl logs` (`testbed.logserver`).

Runtime controls, files in <run-dir>/node/<N>/ re-read twice a second:
  gpus               the GPU count to report (`Cluster.set_gpus` writes it)
  heartbeats-paused  while it exists, no Lease renewal and no status post, so the
                     node-lifecycle controller marks the node NotReady and taints it
The agent keeps the pods' host names there too, in `hosts` (`testbed.podnet`).
On SIGTERM the agent kills every pod process it started and exits (unlike a kubelet, so that
stopping the test bed leaves nothing running).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client

from testbed import podnet
from testbed.kube import Json, new_api_client, read_json, watch_json
from testbed.podrunner import PodWorker
from testbed.podsetup import NodeContext
from testbed.podstatus import now, transient

log = logging.getLogger("testbed.nodeagent")
GPU_RESOURCE = "nvidia.com/gpu"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
KUBE_VERSION = "v1.34.4"


def _micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeAgent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.name: str = args.node_name
        self.api = new_api_client(args.kubeconfig)
        # Names the agent in the API server's audit log, as a kubelet's user agent does.
        self.api.user_agent = f"modelsmith-testbed-nodeagent/{KUBE_VERSION}"
        self.core = client.CoreV1Api(self.api)
        self.leases = client.CoordinationV1Api(self.api)
        self.run_dir: Path = Path(args.run_dir)
        self.control_dir: Path = self.run_dir / "node" / self.name
        self.control_dir.mkdir(parents=True, exist_ok=True)
        if not (self.control_dir / "gpus").exists():
            (self.control_dir / "gpus").write_text(f"{args.gpus}\n")
        self.node_context = NodeContext(
            core=self.core, node_name=self.name, run_dir=self.run_dir,
            server=self.api.configuration.host, ca_cert=Path(self.api.configuration.ssl_ca_cert),
            gpus_visible=bool(args.expose_host_gpus),
        )
        podnet.reset_hosts(self.node_context.hosts)
        self.workers: dict[str, PodWorker] = {}
        self.finalised: set[str] = set()
        self.started: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ready_since = now()

    # ----- node and heartbeats -------------------------------------------------------------

    def gpus(self) -> int:
        try:
            return int((self.control_dir / "gpus").read_text().strip())
        except (OSError, ValueError):
            gpus: int = self.args.gpus
            return gpus

    def paused(self) -> bool:
        return (self.control_dir / "heartbeats-paused").exists()

    def register(self) -> None:
        node: Json = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": {
                "kubernetes.io/hostname": self.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "modelsmith.io/testbed": "true",
            }},
        }
        try:
            self.core.create_node(node)
            log.info("registered node %s", self.name)
        except client.ApiException as e:
            if e.status != 409:
                raise
            log.info("node %s already registered", self.name)
        self.beat()

    def beat(self) -> None:
        gpus = self.gpus()
        resources = {"cpu": self.args.cpu, "memory": self.args.memory, "pods": str(self.args.pods),
                     "ephemeral-storage": "100Gi", GPU_RESOURCE: str(gpus)}
        stamp = now()

        def condition(kind: str, status: str, reason: str, message: str) -> Json:
            since = self.ready_since
            return {"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": stamp, "lastTransitionTime": since}

        status: Json = {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                          "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID",
                          "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "test bed node agent is posting ready"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": int(self.args.port or 0)}},
            "nodeInfo": {
                "machineID": "testbed", "systemUUID": "testbed", "bootID": "testbed",
                "kernelVersion": "", "osImage": "modelsmith test bed", "operatingSystem": "linux",
                "architecture": "amd64", "containerRuntimeVersion": "testbed://local-processes",
                "kubeletVersion": KUBE_VERSION, "kubeProxyVersion": "",
            },
        }
        self.core.patch_node_status(self.name, {"status": status})
        self.renew_lease()

    def renew_lease(self) -> None:
        spec: Json = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_now()}
        try:
            self.leases.patch_namespaced_lease(self.name, LEASE_NAMESPACE, {"spec": spec})
        except client.ApiException as e:
            if e.status != 404:
                raise
            node = read_json(self.core.read_node, self.name)
            lease: Json = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": self.name,
                    "uid": node["metadata"]["uid"]}]},
                "spec": spec,
            }
            self.leases.create_namespaced_lease(LEASE_NAMESPACE, lease)

    def heartbeats(self) -> None:
        """The Lease is the node-lifecycle controller's heartbeat; the status post carries
        conditions and capacity, so it is needed less often, and at once on a GPU change."""
        last_status = last_lease = time.monotonic()
        last_gpus = self.gpus()
        was_paused = False
        while not self.stopping.wait(0.5):
            if self.paused():
                if not was_paused:
                    log.info("heartbeats paused")
                was_paused = True
                continue
            gpus = self.gpus()
            clock = time.monotonic()
            try:
                if was_paused or gpus != last_gpus or (
                    clock - last_status >= self.args.status_seconds
                ):
                    if was_paused:
                        log.info("heartbeats resumed")
                        self.ready_since = now()
                    if gpus != last_gpus:
                        log.info("GPU capacity %d -> %d", last_gpus, gpus)
                    self.beat()
                    last_status = last_lease = clock
                    last_gpus, was_paused = gpus, False
                elif clock - last_lease >= self.args.lease_seconds:
                    self.renew_lease()
                    last_lease = clock
            except Exception as e:  # the next tick retries
                log.warning("heartbeat failed: %s", e)

    # ----- pods ------------------------------------------------------------------------------

    def sync(self, pod: Json) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if worker is not None:
                worker.update(pod)
                return
            status = pod.get("status") or {}
            terminal = status.get("phase") in ("Succeeded", "Failed")
            ran_here = uid in self.started
            if meta.get("deletionTimestamp") and (
                terminal or ran_here or not status.get("startTime")
            ):
                # Nothing runs for it here: finalise at once, as the kubelet does.
                if uid not in self.finalised and self._delete(pod):
                    self.finalised.add(uid)
                return
            # A watch event may be older than the worker's last status post: a pod this agent
            # already ran never runs again, whatever phase a stale event shows.
            if terminal or ran_here:
                return
            self.started.add(uid)
            podnet.add(self.node_context.hosts, pod)
            worker = PodWorker(self.node_context, pod, self._worker_done)
            self.workers[uid] = worker
        log.info("pod %s/%s: accepted", meta["namespace"], meta["name"])
        worker.start()

    def forget(self, pod: Json) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            self.finalised.discard(uid)
        if worker is not None:
            worker.vanish()

    def _worker_done(self, uid: str) -> None:
        with self.lock:
            self.workers.pop(uid, None)

    def _delete(self, pod: Json) -> bool:
        """Finalises a pod; False when the API server could not answer (the relist after the
        outage offers the pod again)."""
        meta = pod["metadata"]
        try:
            self.core.delete_namespaced_pod(
                meta["name"], meta["namespace"],
                body=client.V1DeleteOptions(grace_period_seconds=0,
                                            preconditions=client.V1Preconditions(uid=meta["uid"])),
            )
        except Exception as e:
            if transient(e):
                return False
            if not isinstance(e, client.ApiException):
                raise
            # Refused (gone already, another pod by that name): nothing left to do.
        return True

    def watch_pods(self) -> None:
        selector = f"spec.nodeName={self.name}"
        while not self.stopping.is_set():
            try:
                listing = read_json(self.core.list_pod_for_all_namespaces,
                                    field_selector=selector)
                present = set()
                for pod in listing["items"]:
                    present.add(pod["metadata"]["uid"])
                    self.sync(pod)
                with self.lock:
                    vanished = [w for uid, w in self.workers.items() if uid not in present]
                for worker in vanished:
                    worker.vanish()
                # The read timeout, above the watch's own, ends a watch whose server vanished
                # without closing the connection.
                events = watch_json(
                    self.core.list_pod_for_all_namespaces, field_selector=selector,
                    resource_version=listing["metadata"]["resourceVersion"],
                    allow_watch_bookmarks=True, timeout_seconds=120,
                    _request_timeout=(10, 150))
                for kind, obj in events:
                    if kind == "DELETED":
                        self.forget(obj)
                    elif kind in ("ADDED", "MODIFIED"):
                        self.sync(obj)
            except client.ApiException as e:
                if e.status != 410:
                    log.warning("pod watch failed (%s): %s", e.status, e.reason)
                    self.stopping.wait(1.0)
            except Exception as e:  # relist and carry on, as the kubelet does
                log.warning("pod watch failed: %s", e)
                self.stopping.wait(1.0)

    def lookup_log(self, namespace: str, pod: str, container: str,
                   ) -> tuple[Path, Callable[[], bool]] | None:
        path = self.run_dir / "pods" / namespace / pod / f"{container}.log"
        with self.lock:
            workers = [w for w in self.workers.values()
                       if w.namespace == namespace and w.pod_name == pod]

        def running() -> bool:
            run = workers[0].container(container) if workers else None
            return bool(run is not None and run.running)

        return (path, running) if path.exists() or workers else None

    def shutdown(self) -> None:
        self.stopping.set()
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.kill_all(grace=5.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.nodeagent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", required=True)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--cpu", default="8")
    parser.add_argument("--memory", default="32Gi")
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--lease-seconds", type=float, default=10.0)
    parser.add_argument("--status-seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=0, help="log server port (0: none)")
    parser.add_argument("--serving-cert")
    parser.add_argument("--serving-key")
    parser.add_argument("--client-ca")
    parser.add_argument("--expose-host-gpus", action="store_true",
                        help="let pods see the machine's GPUs (default: CUDA_VISIBLE_DEVICES='')")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    agent = NodeAgent(args)
    try:
        if args.port:
            from testbed import logserver

            logserver.serve(args.port, Path(args.serving_cert), Path(args.serving_key),
                            Path(args.client_ca), agent.lookup_log)
        while True:
            try:
                agent.register()
                break
            except Exception as e:  # the API server may still be starting
                log.warning("registering node failed, retrying: %s", e)
                time.sleep(1)
        threading.Thread(target=agent.heartbeats, name="heartbeats", daemon=True).start()
        agent.watch_pods()
    finally:
        log.info("stopping: killing pod processes")
        agent.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
