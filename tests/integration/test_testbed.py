"""The test bed itself, checked against the real control plane: the Job controller, scheduler,
garbage collector and RBAC act on pods our node agent runs as local processes, and those pods
reach the S3 server."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kubernetes import client

from testbed.cluster import GPU_RESOURCE, Cluster
from testbed.kube import Json, condition, read_json
from testbed.objectstore import ObjectStore
from testbed.waiting import wait_for

pytestmark = pytest.mark.cluster


# Manifests are plain dicts (typed Json, i.e. Any): the client accepts them for its models.
def container(script: str, name: str = "main", **extra: Any) -> Json:
    return {"name": name, "image": "python:3.11",
            "command": ["python", "-c", textwrap.dedent(script)], **extra}


def job(name: str, script: str, backoff_limit: int = 0, env: list[Json] | None = None) -> Json:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [container(script, env=env or [])],
            }},
        },
    }


def pod(name: str, *containers: Json, **spec: Any) -> Json:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": list(containers), **spec}}


def job_condition(batch: client.BatchV1Api, namespace: str, name: str) -> str | None:
    """The Job's terminal condition type (Complete or Failed), once it has one."""
    found = read_json(batch.read_namespaced_job_status, name, namespace)
    for kind in ("Complete", "Failed"):
        if (condition(found, kind) or {}).get("status") == "True":
            return kind
    return None


def job_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[Json]:
    listing = read_json(core.list_namespaced_pod, namespace, label_selector=f"job-name={name}")
    pods: list[Json] = listing["items"]
    return pods


def read_pod(core: client.CoreV1Api, namespace: str, name: str) -> Json:
    return read_json(core.read_namespaced_pod, name, namespace)


def terminal_pod(core: client.CoreV1Api, namespace: str, name: str) -> Json | None:
    found = read_pod(core, namespace, name)
    return found if found["status"].get("phase") in ("Succeeded", "Failed") else None


def terminated(pod: Json, index: int = 0) -> Json:
    """The terminated state of the pod's container number `index`."""
    return pod["status"]["containerStatuses"][index]["state"]["terminated"]


def test_job_writes_to_the_object_store(
    cluster: Cluster, object_store: ObjectStore, namespace: str
) -> None:
    key = f"testbed/{namespace}/greeting.txt"
    env = [{"name": k, "value": v} for k, v in object_store.env().items()]
    env.append({"name": "KEY", "value": key})
    script = """
        import os, boto3
        boto3.client("s3").put_object(Bucket="modelsmith", Key=os.environ["KEY"],
                                      Body=b"hello from a pod")
    """
    batch = client.BatchV1Api(cluster.api_client())
    batch.create_namespaced_job(namespace, job("writer", script, env=env))

    assert wait_for(lambda: job_condition(batch, namespace, "writer"), 60,
                    "Job writer to finish") == "Complete"
    body = object_store.client().get_object(Bucket=object_store.bucket, Key=key)["Body"].read()
    assert body == b"hello from a pod"


def test_failing_job_retries_then_fails(cluster: Cluster, namespace: str) -> None:
    batch = client.BatchV1Api(cluster.api_client())
    core = client.CoreV1Api(cluster.api_client())
    batch.create_namespaced_job(namespace, job("crasher", "raise SystemExit(1)", backoff_limit=1))

    # The Job controller waits ~10 s (its pod-failure back-off) before the second pod.
    assert wait_for(lambda: job_condition(batch, namespace, "crasher"), 60,
                    "Job crasher to fail") == "Failed"
    crasher = read_json(batch.read_namespaced_job_status, "crasher", namespace)
    assert crasher["status"]["failed"] == 2
    assert condition(crasher, "Failed")["reason"] == "BackoffLimitExceeded"
    pods = job_pods(core, namespace, "crasher")
    assert len(pods) == 2
    for p in pods:
        assert p["status"]["phase"] == "Failed"
        assert terminated(p)["exitCode"] == 1


def test_pod_asking_for_more_gpus_than_the_node_has_stays_pending(
    cluster: Cluster, namespace: str
) -> None:
    core = client.CoreV1Api(cluster.api_client())
    greedy = container("print('never')", resources={"limits": {GPU_RESOURCE: "3"}})
    core.create_namespaced_pod(namespace, pod("greedy", greedy))

    def unschedulable() -> Json | None:
        scheduled = condition(read_pod(core, namespace, "greedy"), "PodScheduled")
        return scheduled if scheduled and scheduled["status"] == "False" else None

    scheduled = wait_for(unschedulable, 30, "scheduler to report greedy Unschedulable")
    assert scheduled["reason"] == "Unschedulable"
    assert GPU_RESOURCE in scheduled["message"]
    assert read_pod(core, namespace, "greedy")["status"]["phase"] == "Pending"


def test_more_gpus_let_a_pending_pod_run(node_control: Cluster, namespace: str) -> None:
    cluster = node_control
    core = client.CoreV1Api(cluster.api_client())
    greedy = container("print('scheduled')", resources={"limits": {GPU_RESOURCE: "3"}})
    core.create_namespaced_pod(namespace, pod("greedy", greedy))
    wait_for(lambda: (condition(read_pod(core, namespace, "greedy"), "PodScheduled") or {})
             .get("reason") == "Unschedulable", 30, "greedy to be Unschedulable on a 2-GPU node")

    cluster.set_gpus(4)
    done = wait_for(lambda: terminal_pod(core, namespace, "greedy"), 60,
                    "greedy to run once the node has 4 GPUs")
    assert done["status"]["phase"] == "Succeeded"
    assert cluster.pod_log(namespace, "greedy") == "scheduled\n"


def test_deleting_a_job_removes_its_pods(cluster: Cluster, namespace: str) -> None:
    batch = client.BatchV1Api(cluster.api_client())
    core = client.CoreV1Api(cluster.api_client())
    batch.create_namespaced_job(namespace, job("sleeper", "import time; time.sleep(600)"))
    running = wait_for(
        lambda: [p for p in job_pods(core, namespace, "sleeper")
                 if p["status"].get("phase") == "Running"],
        30, "sleeper's pod to run")
    process = cluster.run_dir / "pids" / "pods" / f"{running[0]['metadata']['uid']}-main.pid"
    assert process.exists()

    batch.delete_namespaced_job("sleeper", namespace, propagation_policy="Background")

    wait_for(lambda: not job_pods(core, namespace, "sleeper"), 45,
             "the garbage collector to remove sleeper's pods")
    assert not process.exists(), "the node agent should have killed the pod's process"


def test_rbac_forbids_until_a_role_binding_allows(cluster: Cluster, namespace: str) -> None:
    as_mallory = client.CoreV1Api(cluster.api_client(impersonate="mallory"))
    mallory_cert = client.CoreV1Api(cluster.api_client("mallory"))
    for api in (as_mallory, mallory_cert):
        with pytest.raises(client.ApiException) as refused:
            api.list_namespaced_pod(namespace)
        assert refused.value.status == 403
    denied = cluster.kubectl("get", "pods", "-n", namespace, as_user="mallory", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()

    binding: Json = {
        "metadata": {"name": "mallory-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": "mallory"}],
    }
    client.RbacAuthorizationV1Api(cluster.api_client()).create_namespaced_role_binding(
        namespace, binding)

    wait_for(lambda: as_mallory.list_namespaced_pod(namespace) is not None, 15,
             "mallory to be allowed to list pods")
    assert mallory_cert.list_namespaced_pod(namespace).items == []
    cluster.kubectl("get", "pods", "-n", namespace, as_user="mallory")


def test_termination_message_reaches_container_status(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client())
    written = container("""
        import json, os
        with open(os.environ["MODELSMITH_TERMINATION_LOG"], "w") as f:
            json.dump({"score": 0.75}, f)
    """, name="reporter")
    from_logs = container("""
        print("boom: the spec was malformed")
        raise SystemExit(2)
    """, name="crasher", terminationMessagePolicy="FallbackToLogsOnError")
    core.create_namespaced_pod(namespace, pod("reporter", written))
    core.create_namespaced_pod(namespace, pod("crasher", from_logs))

    reporter = wait_for(lambda: terminal_pod(core, namespace, "reporter"), 30, "reporter to end")
    state = terminated(reporter)
    assert (state["exitCode"], state["reason"]) == (0, "Completed")
    assert json.loads(state["message"]) == {"score": 0.75}

    crasher = wait_for(lambda: terminal_pod(core, namespace, "crasher"), 30, "crasher to end")
    assert crasher["status"]["phase"] == "Failed"
    state = terminated(crasher)
    assert (state["exitCode"], state["reason"]) == (2, "Error")
    assert "boom: the spec was malformed" in state["message"]


def test_pod_environment_from_secrets_config_maps_and_fields(
    cluster: Cluster, namespace: str
) -> None:
    core = client.CoreV1Api(cluster.api_client())
    secret: Json = {"metadata": {"name": "creds"}, "stringData": {"token": "s3cr3t"}}
    settings: Json = {"metadata": {"name": "settings"}, "data": {"MODE": "fast", "LEVEL": "3"}}
    core.create_namespaced_secret(namespace, secret)
    core.create_namespaced_config_map(namespace, settings)
    script = """
        import json, os
        keys = ["TOKEN", "MODE", "LEVEL", "POD", "NS", "GREETING"]
        with open(os.environ["MODELSMITH_TERMINATION_LOG"], "w") as f:
            json.dump({k: os.environ.get(k) for k in keys}, f)
    """
    env = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "GREETING", "value": "hello $(POD)"},
    ]
    spec = container(script, env=env, envFrom=[{"configMapRef": {"name": "settings"}}])
    core.create_namespaced_pod(namespace, pod("env", spec))

    done = wait_for(lambda: terminal_pod(core, namespace, "env"), 30, "env pod to end")
    assert json.loads(terminated(done)["message"]) == {
        "TOKEN": "s3cr3t", "MODE": "fast", "LEVEL": "3", "POD": "env", "NS": namespace,
        "GREETING": "hello env",
    }


def _waiting_reason(core: client.CoreV1Api, namespace: str, name: str) -> str | None:
    statuses = read_pod(core, namespace, name)["status"].get("containerStatuses") or []
    waiting = (statuses[0]["state"].get("waiting") or {}) if statuses else {}
    reason: str | None = waiting.get("reason")
    return reason


def test_unknown_image_waits_like_a_kubelet_until_the_deadline(
    cluster: Cluster, namespace: str
) -> None:
    """A kubelet never fails a pod for its image: it stays Pending, ErrImagePull then
    ImagePullBackOff, which is what the operator must notice on real clusters."""
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespaced_pod(namespace, pod(
        "nginx", {"name": "web", "image": "nginx:1.27"}, activeDeadlineSeconds=12))
    core.create_namespaced_pod(namespace, pod(
        "slow", container("import time; time.sleep(600)"), activeDeadlineSeconds=2))

    wait_for(lambda: _waiting_reason(core, namespace, "nginx") == "ErrImagePull", 30,
             "nginx to wait on ErrImagePull")
    nginx = read_pod(core, namespace, "nginx")
    assert nginx["status"]["phase"] == "Pending"
    assert "nginx:1.27" in nginx["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    wait_for(lambda: _waiting_reason(core, namespace, "nginx") == "ImagePullBackOff", 30,
             "nginx to back off")
    assert read_pod(core, namespace, "nginx")["status"]["phase"] == "Pending"

    slow = wait_for(lambda: terminal_pod(core, namespace, "slow"), 30, "slow pod's deadline")
    assert (slow["status"]["phase"], slow["status"]["reason"]) == ("Failed", "DeadlineExceeded")
    nginx = wait_for(lambda: terminal_pod(core, namespace, "nginx"), 30, "nginx's deadline")
    assert (nginx["status"]["phase"], nginx["status"]["reason"]) == ("Failed", "DeadlineExceeded")


def test_node_goes_not_ready_without_heartbeats(node_control: Cluster) -> None:
    cluster = node_control
    core = client.CoreV1Api(cluster.api_client())
    cluster.set_heartbeats(False, wait=True)
    def taints() -> list[Json]:
        node = read_json(core.read_node, cluster.node.name)
        found: list[Json] = node["spec"].get("taints") or []
        return found

    tainted = wait_for(taints, 15, "the node-lifecycle controller to taint the node")
    assert "node.kubernetes.io/unreachable" in {t["key"] for t in tainted}

    cluster.set_heartbeats(True, wait=True)
    wait_for(lambda: not taints(), 30, "the node's taints to be lifted")


def test_a_pod_ending_while_the_api_server_is_down_is_reported_once_it_is_back(
    cluster: Cluster, namespace: str
) -> None:
    """As the kubelet's status manager does, the node agent retries a pod's last status until
    the API server takes it. It once gave up at the first refused connection, and the pod
    stayed Running for good (an API server restart mid-training hung the fault test)."""
    core = client.CoreV1Api(cluster.api_client())
    release = cluster.run_dir / f"release-{namespace}"
    waiter = container(f"""
        import os, time
        while not os.path.exists({str(release)!r}):
            time.sleep(0.1)
    """)
    core.create_namespaced_pod(namespace, pod("outlasts", waiter))

    def running() -> Json | None:
        found = read_pod(core, namespace, "outlasts")
        return found if found["status"].get("phase") == "Running" else None

    uid = wait_for(running, 30, "the pod to run")["metadata"]["uid"]
    # The agent forgets the process's pid when it sees it exit, just before posting its end.
    pid_file = cluster.run_dir / "pids" / "pods" / f"{uid}-main.pid"
    cluster.stop_apiserver()
    try:
        release.touch()
        wait_for(lambda: not pid_file.exists(), 30, "the pod's process to end")
    finally:
        cluster.start_apiserver()
    core = client.CoreV1Api(cluster.api_client())
    ended = wait_for(lambda: terminal_pod(core, namespace, "outlasts"), 60, "the pod's end")
    assert ended["status"]["phase"] == "Succeeded"
    assert terminated(ended)["exitCode"] == 0


def test_object_store_refuses_a_conditional_overwrite(object_store: ObjectStore) -> None:
    s3 = object_store.client()
    key = "testbed/write-once.json"
    s3.put_object(Bucket=object_store.bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=object_store.bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_init_containers_volumes_restarts_and_logs(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client())
    mount = [{"name": "work", "mountPath": "/work"}]
    seed = container("""
        import os, pathlib
        pathlib.Path(os.environ["MODELSMITH_VOLUME_WORK"], "seed").write_text("42")
    """, name="seed", volumeMounts=mount)
    # Fails on its first run and succeeds on its second: the emptyDir outlives the restart.
    flaky = container("""
        import os, pathlib
        work = pathlib.Path(os.environ["MODELSMITH_VOLUME_WORK"])
        runs = work / "runs"
        runs.write_text(str(int(runs.read_text()) + 1) if runs.exists() else "1")
        print("run", runs.read_text(), "seed", (work / "seed").read_text())
        raise SystemExit(0 if runs.read_text() == "2" else 3)
    """, volumeMounts=mount)
    core.create_namespaced_pod(namespace, pod(
        "flaky", flaky, restartPolicy="OnFailure", initContainers=[seed],
        volumes=[{"name": "work", "emptyDir": {}}]))

    done = wait_for(lambda: terminal_pod(core, namespace, "flaky"), 30, "flaky to succeed")
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == (
        "Completed")
    main = done["status"]["containerStatuses"][0]
    assert main["restartCount"] == 1
    assert main["lastState"]["terminated"]["exitCode"] == 3
    # `kubectl logs` goes through the API server to the node agent's log endpoint.
    logs = cluster.kubectl("logs", "-n", namespace, "flaky", "-c", "main").stdout
    assert logs == "run 1 seed 42\nrun 2 seed 42\n"


def test_pods_act_as_their_service_account(cluster: Cluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client())
    whoami = container("""
        import os
        from kubernetes import client, config
        config.load_kube_config()  # KUBECONFIG: the node agent's stand-in for the token volume
        review = client.AuthenticationV1Api().create_self_subject_review({})
        with open(os.environ["MODELSMITH_TERMINATION_LOG"], "w") as f:
            f.write(review.status.user_info.username)
    """)
    core.create_namespaced_pod(namespace, pod("whoami", whoami))

    done = wait_for(lambda: terminal_pod(core, namespace, "whoami"), 30, "whoami to end")
    assert terminated(done)["message"] == f"system:serviceaccount:{namespace}:default"
