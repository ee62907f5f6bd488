"""A Benchmark's parsed scenarios are reused across Job launches while the watch shows the
Benchmark at the version they were parsed from, and read again once it shows another; the
object evaluation Jobs read them from is written once per content. Against the real API server
and S3 server, the operator code running in the test process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client

from modelsmith import GROUP, VERSION, kube, objectstore, watched
from modelsmith.api import samples
from modelsmith.api.benchmark import Benchmark
from modelsmith.api.intake import ModelIntake
from modelsmith.handlers import scenarios
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    watched.clear()
    scenarios._parsed.clear()
    scenarios._published.clear()
    yield
    watched.clear()
    scenarios._parsed.clear()
    scenarios._published.clear()


def _create(custom: Any, namespace: str, count: int) -> dict[str, Any]:
    body: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "benchmarks", samples.benchmark("bench", namespace, count)
    )
    return body


def _watched(body: dict[str, Any]) -> None:
    watched.seen("benchmarks", {"type": "MODIFIED", "object": body})


def test_parsed_scenarios_follow_the_watched_version(
    operator_env: None, crds: Cluster, namespace: str
) -> None:
    custom = client.CustomObjectsApi(crds.api_client())
    intake_body = samples.intake("intake", namespace)
    intake_body["spec"]["benchmarkRef"]["name"] = "bench"
    intake = ModelIntake.model_validate(intake_body)

    first = _create(custom, namespace, 20)
    # Not seen by the watch yet: read from the API server every time.
    assert len(scenarios.load_benchmark_scenarios(namespace, intake)) == 20
    _watched(first)
    assert len(scenarios.load_benchmark_scenarios(namespace, intake)) == 20

    # Replaced under the same name (a Benchmark's scenarios are immutable): until the watch
    # shows the new object, the list parsed from the version it shows is the one served.
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "benchmarks", "bench")
    second = _create(custom, namespace, 28)
    assert len(scenarios.load_benchmark_scenarios(namespace, intake)) == 20
    _watched(second)
    assert len(scenarios.load_benchmark_scenarios(namespace, intake)) == 28


def test_only_inline_scenarios_are_kept(operator_env: None, crds: Cluster, namespace: str) -> None:
    core: Any = client.CoreV1Api(crds.api_client())
    custom: Any = client.CustomObjectsApi(crds.api_client())
    inline = samples.benchmark("bench", namespace, 20)
    lines = json.dumps(inline["spec"]["scenarios"])
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "scenarios"}, "data": {"scenarios.json": lines}}
    )
    body = {**inline, "spec": {k: v for k, v in inline["spec"].items() if k != "scenarios"}}
    body["spec"]["scenariosFrom"] = {"configMapRef": {"name": "scenarios", "key": "scenarios.json"}}
    stored = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "benchmarks", body)
    _watched(stored)
    intake_body = samples.intake("intake", namespace)
    intake_body["spec"]["benchmarkRef"]["name"] = "bench"
    intake = ModelIntake.model_validate(intake_body)

    assert len(scenarios.load_benchmark_scenarios(namespace, intake)) == 20
    assert scenarios._parsed == {}


def test_scenarios_are_published_once_per_content(
    operator_env: None, object_store: ObjectStore, namespace: str
) -> None:
    parsed = Benchmark.model_validate(samples.benchmark("bench", namespace, 20)).spec.scenarios
    first = scenarios.publish_scenarios(object_store.bucket, namespace, "bench", parsed)
    assert first.startswith(f"s3://{object_store.bucket}/benchmarks/{namespace}/bench/scenarios-")
    lines = objectstore.get_bytes(first).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [sc.id for sc in parsed]
    # Known written: the next launch on the same content writes nothing, even if the object
    # were gone; after a restart (nothing known) the conditional PUT finds it there.
    objectstore.delete(first)
    assert scenarios.publish_scenarios(object_store.bucket, namespace, "bench", parsed) == first
    assert not objectstore.exists(first)
    scenarios._published.clear()
    assert scenarios.publish_scenarios(object_store.bucket, namespace, "bench", parsed) == first
    assert objectstore.exists(first)
    scenarios._published.clear()
    assert scenarios.publish_scenarios(object_store.bucket, namespace, "bench", parsed) == first
    # Other content is another object; the first stays as it was.
    other = scenarios.publish_scenarios(object_store.bucket, namespace, "bench", parsed[:-1])
    assert other != first
    assert len(objectstore.get_bytes(other).decode().splitlines()) == len(parsed) - 1
    assert len(objectstore.get_bytes(first).decode().splitlines()) == len(parsed)


# The session's operator process would write the Benchmark's status between the watch's version
# and the read, and the parsed list would be kept under a version the watch has not shown yet.
@pytest.mark.inprocess
def test_launches_together_read_the_benchmark_once(
    operator_env: None, crds: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = client.CustomObjectsApi(crds.api_client())
    intake_body = samples.intake("intake", namespace)
    intake_body["spec"]["benchmarkRef"]["name"] = "bench"
    intake = ModelIntake.model_validate(intake_body)
    _watched(_create(custom, namespace, 20))
    reads: list[str] = []
    read = kube.get_custom

    def counted(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        reads.append(name)
        time.sleep(0.2)  # every launch below arrives while the first read is in flight
        return read(plural, namespace, name)

    monkeypatch.setattr(kube, "get_custom", counted)
    with ThreadPoolExecutor(8) as pool:
        loaded = list(
            pool.map(lambda _: len(scenarios.load_benchmark_scenarios(namespace, intake)), range(8))
        )
    assert loaded == [20] * 8
    assert reads == ["bench"]
