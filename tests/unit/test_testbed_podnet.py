"""The test bed's pod host names (hack/testbed/podnet.py): which names a pod gets, and the command
line that gives them to its processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testbed import podnet


def pod(name: str = "ddp-workers-0-1-x7k2p", **spec: str) -> dict:
    return {"metadata": {"name": name, "namespace": "team-a"}, "spec": spec}


def test_a_pod_with_a_subdomain_gets_the_names_cluster_dns_would_give_it() -> None:
    names = podnet.names(pod(hostname="ddp-workers-0-1", subdomain="ddp"))
    assert names == [
        "ddp-workers-0-1.ddp.team-a.svc.cluster.local",
        "ddp-workers-0-1.ddp.team-a.svc",
        "ddp-workers-0-1.ddp.team-a",
        "ddp-workers-0-1.ddp",
        "ddp-workers-0-1",
    ]


def test_the_host_name_defaults_to_the_pod_name() -> None:
    assert podnet.names(pod("solo", subdomain="svc"))[-1] == "solo"


def test_a_pod_without_a_subdomain_runs_as_before(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    podnet.add(hosts, pod(hostname="plain"))
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    assert podnet.wrap(["python", "-V"], pod(hostname="plain"), hosts) == ["python", "-V"]


def test_the_wrapped_process_sees_the_hosts_file_and_its_host_name(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    leader = pod("ddp-workers-0-0-a1b2c", hostname="ddp-workers-0-0", subdomain="ddp")
    worker = pod(hostname="ddp-workers-0-1", subdomain="ddp")
    podnet.add(hosts, leader)
    podnet.add(hosts, worker)
    script = ("import socket; print(socket.gethostname(), "
              "socket.gethostbyname('ddp-workers-0-0.ddp'))")
    out = subprocess.run(podnet.wrap([sys.executable, "-c", script], worker, hosts),
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["ddp-workers-0-1", "127.0.0.1"]
