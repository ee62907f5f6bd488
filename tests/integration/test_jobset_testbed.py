"""JobSet on the test bed: a JobSet of one Indexed Job with two pods, run by the node agent, whose
torchrun launchers meet at the leader pod's host name (static rendezvous, node rank from the
completion index the Job controller injects) and all-reduce a tensor over gloo."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from testbed import procs
from testbed.cluster import Cluster
from testbed.jobset import API_GROUP, JobSet
from testbed.kube import Json, read_json
from testbed.waiting import wait_for

ALL_REDUCE = """\
import socket

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total)
assert total.item() == world * (world + 1) / 2, total
print(f"rank {rank} of {world} on {socket.gethostname()}: sum {total.item():g}", flush=True)
dist.destroy_process_group()
"""
NAME = "ddp"
JOB = "workers"
NODES = 2


def jobset_manifest(port: int) -> Json:
    # The leader's name as a cluster's DNS gives it: <jobset>-<job>-<job index>-<pod index>,
    # under the subdomain JobSet names after the JobSet.
    leader = f"{NAME}-{JOB}-0-0.{NAME}"
    torchrun = ["python", "-m", "torch.distributed.run", f"--nnodes={NODES}",
                "--nproc-per-node=1", "--node-rank=$(JOB_COMPLETION_INDEX)",
                f"--master-addr={leader}", f"--master-port={port}",
                "$(MODELSMITH_VOLUME_SCRIPT)/all_reduce.py"]
    pod: Json = {
        "restartPolicy": "Never",
        "containers": [{"name": "trainer", "image": "python:3.11", "command": torchrun,
                        "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
                        "volumeMounts": [{"name": "script", "mountPath": "/script"}]}],
        "volumes": [{"name": "script", "configMap": {"name": "all-reduce"}}],
    }
    return {
        "apiVersion": f"{API_GROUP}/v1alpha2", "kind": "JobSet", "metadata": {"name": NAME},
        "spec": {"replicatedJobs": [{"name": JOB, "replicas": 1, "template": {"spec": {
            "parallelism": NODES, "completions": NODES, "backoffLimit": 0,
            "template": {"spec": pod},
        }}}]},
    }


def _terminal(custom: client.CustomObjectsApi, namespace: str) -> str | None:
    obj: Any = read_json(custom.get_namespaced_custom_object, API_GROUP, "v1alpha2", namespace,
                         "jobsets", NAME)
    return (obj.get("status") or {}).get("terminalState")


@pytest.mark.timeout(600)
def test_two_pods_rendezvous_by_host_name(jobset: JobSet, cluster: Cluster,
                                          namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespaced_config_map(namespace, {
        "metadata": {"name": "all-reduce"}, "data": {"all_reduce.py": ALL_REDUCE}})
    custom = client.CustomObjectsApi(cluster.api_client())
    custom.create_namespaced_custom_object(API_GROUP, "v1alpha2", namespace, "jobsets",
                                           jobset_manifest(procs.free_port()))

    wait_for(lambda: _terminal(custom, namespace), 300, f"JobSet {NAME} to finish")
    pods = read_json(core.list_namespaced_pod, namespace)["items"]
    logs = {p["spec"]["hostname"]: cluster.pod_log(namespace, p["metadata"]["name"])
            for p in pods}
    assert _terminal(custom, namespace) == "Completed", logs
    assert sorted(logs) == [f"{NAME}-{JOB}-0-{i}" for i in range(NODES)]
    for index in range(NODES):
        host = f"{NAME}-{JOB}-0-{index}"
        assert f"rank {index} of {NODES} on {host}: sum 3" in logs[host], logs[host]
