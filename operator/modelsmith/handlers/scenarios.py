"""Fetching a Benchmark's scenarios from wherever they live: inline, a ConfigMap, an object."""

from __future__ import annotations

from modelsmith import kube, objectstore
from modelsmith.api.benchmark import Benchmark, Scenario
from modelsmith.api.intake import ModelIntake
from modelsmith.benchmark.sources import (
    BenchmarkSourceError,
    scenarios_from_configmap,
    scenarios_from_object,
)
from modelsmith.settings import OperatorSettings

SETTINGS = OperatorSettings()


class SourceMissingError(BenchmarkSourceError):
    """The referenced ConfigMap or object does not exist (yet): worth looking again later."""


def fetch_scenarios(benchmark: Benchmark, namespace: str) -> list[Scenario]:
    spec = benchmark.spec
    if spec.scenarios:
        return list(spec.scenarios)
    source = spec.scenarios_from
    if source is None:
        raise BenchmarkSourceError("the Benchmark names no scenarios")
    if source.config_map_ref is not None:
        ref = source.config_map_ref
        try:
            cm = kube.core().read_namespaced_config_map(ref.name, namespace)
        except Exception as exc:
            if kube.is_not_found(exc):
                raise SourceMissingError(f"ConfigMap {ref.name} not found") from None
            raise
        if ref.key not in (cm.data or {}):
            # Like a missing ConfigMap, a missing key may be added later: look again then.
            raise SourceMissingError(f"ConfigMap {ref.name} has no key {ref.key}")
        return scenarios_from_configmap(
            cm.data, ref.key, name=ref.name, max_bytes=SETTINGS.max_inline_benchmark_bytes
        )
    assert source.s3 is not None
    raw = objectstore.get_bytes_or_none(source.s3.uri)
    if raw is None:
        raise SourceMissingError("the referenced scenario object does not exist")
    return scenarios_from_object(
        raw, origin="the referenced scenario object", max_bytes=SETTINGS.max_inline_benchmark_bytes
    )


def load_benchmark_scenarios(namespace: str, intake: ModelIntake) -> list[Scenario]:
    body = kube.get_custom("benchmarks", namespace, intake.spec.benchmark_ref.name)
    if body is None:
        raise BenchmarkSourceError(f"Benchmark {intake.spec.benchmark_ref.name} not found")
    return fetch_scenarios(Benchmark.model_validate(body), namespace)
