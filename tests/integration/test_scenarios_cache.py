"""The scenario snapshot evaluation Jobs read (the one a run pins at its start) is written once
per content. Against the real S3 server, the operator code running in the test process."""

from __future__ import annotations

import json

from modelsmith import scenarios
from modelsmith.api import samples
from modelsmith.api.benchmark import Benchmark
from modelsmith.contract.objectstore import Store
from modelsmith.runtime.core import Runtime
from testbed.objectstore import ObjectStore

# This module's own object-store client (a test process makes its own, as a Job does).
STORE = Store()


def test_scenarios_are_published_once_per_content(
    operator_env: None, object_store: ObjectStore, namespace: str
) -> None:
    rt, bucket = Runtime(), object_store.bucket
    parsed = Benchmark.model_validate(samples.benchmark("bench", namespace, 20)).spec.scenarios
    snapshot = scenarios.Snapshot.of(parsed)
    first = scenarios.publish_scenarios(rt, bucket, namespace, "bench", snapshot)
    assert first.startswith(f"s3://{bucket}/benchmarks/{namespace}/bench/scenarios-")
    lines = STORE.get_bytes(first).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [sc.id for sc in parsed]
    # Known written: the next launch on the same content writes nothing, even if the object
    # were gone; after a restart (nothing known) the conditional PUT finds it there.
    STORE.delete(first)
    assert scenarios.publish_scenarios(rt, bucket, namespace, "bench", snapshot) == first
    assert not STORE.exists(first)
    rt = Runtime()
    assert scenarios.publish_scenarios(rt, bucket, namespace, "bench", snapshot) == first
    assert STORE.exists(first)
    rt = Runtime()
    assert scenarios.publish_scenarios(rt, bucket, namespace, "bench", snapshot) == first
    # Other content is another object; the first stays as it was.
    fewer = scenarios.Snapshot.of(parsed[:-1])
    other = scenarios.publish_scenarios(rt, bucket, namespace, "bench", fewer)
    assert other != first
    assert len(STORE.get_bytes(other).decode().splitlines()) == len(parsed) - 1
    assert len(STORE.get_bytes(first).decode().splitlines()) == len(parsed)
