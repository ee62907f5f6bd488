"""A Benchmark's scenarios: fetched from wherever they live (inline, a ConfigMap, an object) by
the benchmark controller, which judges them, and by the run controller, which pins them at a
run's start; and published as the snapshot the run's evaluation Jobs read."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

from modelsmith.api.benchmark import Benchmark
from modelsmith.benchmark.sources import (
    BenchmarkSourceError,
    scenarios_from_configmap,
    scenarios_from_object,
)
from modelsmith.contract import readlimits, s3
from modelsmith.contract.layout import benchmark_scenarios
from modelsmith.contract.scenario import Scenario
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime


class SourceMissingError(BenchmarkSourceError):
    """The referenced ConfigMap or object does not exist (yet): worth reading again later."""


def fetch_scenarios(rt: Runtime, benchmark: Benchmark, namespace: str) -> list[Scenario]:
    spec = benchmark.spec
    if spec.scenarios:
        return list(spec.scenarios)
    source = spec.scenarios_from
    if source is None:
        raise BenchmarkSourceError("the Benchmark names no scenarios")
    if source.config_map_ref is not None:
        ref = source.config_map_ref
        cm = kube.find(kube.core_path("configmaps", namespace, ref.name))
        if cm is None:
            raise SourceMissingError(f"ConfigMap {ref.name} not found")
        if ref.key not in (cm.get("data") or {}):
            # Like a missing ConfigMap, a missing key may be added later: read again then. The
            # keys it has are names, not content, and usually show the slip (.yml for .yaml).
            keys = sorted({*(cm.get("data") or {}), *(cm.get("binaryData") or {})})
            has = f"its keys: {', '.join(keys[:10])}" if keys else "it has no keys"
            more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
            raise SourceMissingError(f"ConfigMap {ref.name} has no key {ref.key} ({has}{more})")
        return scenarios_from_configmap(
            cm["data"], ref.key, name=ref.name, max_bytes=rt.settings.max_inline_benchmark_bytes
        )
    assert source.s3 is not None
    try:
        raw = rt.store.get_bytes_or_none(
            source.s3.uri,
            readlimits.ObjectKind.SCENARIOS,
            limit=rt.settings.max_inline_benchmark_bytes,
        )
    except (readlimits.ObjectTooLarge, readlimits.ForeignBucket) as err:
        # Not the store's fault and not going away by itself: the Benchmark is Invalid.
        raise BenchmarkSourceError(f"the referenced scenario object: {err}") from None
    if raw is None:
        raise SourceMissingError("the referenced scenario object does not exist")
    return scenarios_from_object(
        raw,
        origin="the referenced scenario object",
        max_bytes=rt.settings.max_inline_benchmark_bytes,
    )


@dataclass(frozen=True)
class Snapshot:
    """The scenario snapshot evaluation Jobs read (JSON lines) and its sha256 (hex), which names
    it and which the run pins."""

    data: bytes
    sha256: str

    @classmethod
    def of(cls, scenarios: list[Scenario]) -> Snapshot:
        data = "\n".join(sc.model_dump_json(by_alias=True) for sc in scenarios).encode()
        return cls(data, hashlib.sha256(data).hexdigest())


def publish_scenarios(
    rt: Runtime,
    bucket: str,
    namespace: str,
    benchmark: str,
    snapshot: Snapshot,
    root: str = "",
) -> str:
    """The URI of the object an evaluation Job reads `snapshot` from. Its name is the digest of
    its content, so it is written once, by whichever launch comes first (a conditional PUT), and
    later launches on the same content, in any run, find it known (`Runtime.published_scenarios`)
    and write nothing."""
    uri = benchmark_scenarios(bucket, namespace, benchmark, snapshot.sha256, root)
    if rt.published_scenarios.get(uri):
        return uri
    with contextlib.suppress(s3.AlreadyExists):
        rt.store.put_if_absent(uri, snapshot.data, content_type="application/x-ndjson")
    rt.published_scenarios.put(uri, True)
    return uri
