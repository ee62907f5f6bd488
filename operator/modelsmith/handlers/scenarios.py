"""Fetching a Benchmark's scenarios from wherever they live: inline, a ConfigMap, an object."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict

from modelsmith import kube, objectstore, watched
from modelsmith.api.benchmark import Benchmark, Scenario
from modelsmith.api.intake import ModelIntake
from modelsmith.benchmark.sources import (
    BenchmarkSourceError,
    scenarios_from_configmap,
    scenarios_from_object,
)
from modelsmith.layout import benchmark_scenarios
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
            # Like a missing ConfigMap, a missing key may be added later: look again then. The
            # keys it has are names, not content, and usually show the slip (.yml for .yaml).
            keys = sorted({*(cm.data or {}), *(cm.binary_data or {})})
            has = f"its keys: {', '.join(keys[:10])}" if keys else "it has no keys"
            more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
            raise SourceMissingError(f"ConfigMap {ref.name} has no key {ref.key} ({has}{more})")
        return scenarios_from_configmap(
            cm.data, ref.key, name=ref.name, max_bytes=SETTINGS.max_inline_benchmark_bytes
        )
    assert source.s3 is not None
    try:
        raw = objectstore.get_bytes_or_none(
            source.s3.uri,
            objectstore.ObjectKind.SCENARIOS,
            limit=SETTINGS.max_inline_benchmark_bytes,
        )
    except (objectstore.ObjectTooLarge, objectstore.ForeignBucket) as err:
        # Not the store's fault and not going away by itself: the Benchmark is Invalid.
        raise BenchmarkSourceError(f"the referenced scenario object: {err}") from None
    if raw is None:
        raise SourceMissingError("the referenced scenario object does not exist")
    return scenarios_from_object(
        raw, origin="the referenced scenario object", max_bytes=SETTINGS.max_inline_benchmark_bytes
    )


PARSED_KEPT = 64
"""Inline scenario lists kept parsed, the most recently used: every Job launch of every run on
a Benchmark reads the same list."""

_parsed_lock = threading.Lock()
_parsed: OrderedDict[tuple[str, str], tuple[int, list[Scenario]]] = OrderedDict()
# One reader per Benchmark at a time (locks striped by name, so they stay few): the runs on a
# Benchmark launch together (an intake made ready, a batch applied), and each would otherwise
# read and parse the same list.
_loading = [threading.Lock() for _ in range(64)]


def load_benchmark_scenarios(namespace: str, intake: ModelIntake) -> list[Scenario]:
    """The scenarios of the intake's Benchmark as it is now. An inline list parsed before is
    reused while the watch shows that Benchmark at the version it was parsed from; scenarios
    from a ConfigMap or an object can change with no new Benchmark version, so are read again."""
    key = (namespace, intake.spec.benchmark_ref.name)
    with _loading[hash(key) % len(_loading)]:
        return _load(key)


def _load(key: tuple[str, str]) -> list[Scenario]:
    namespace, name = key
    current = watched.version("benchmarks", namespace, name)
    with _parsed_lock:
        kept = _parsed.get(key)
        if kept is not None and current is not None and kept[0] == current:
            _parsed.move_to_end(key)
            return list(kept[1])
    body = kube.get_custom("benchmarks", namespace, name)
    if body is None:
        raise BenchmarkSourceError(f"Benchmark {name} not found")
    benchmark = Benchmark.model_validate(body)
    scenarios = fetch_scenarios(benchmark, namespace)
    version = watched.resource_version(body)
    if benchmark.spec.scenarios and version is not None:
        with _parsed_lock:
            _parsed[key] = (version, scenarios)
            _parsed.move_to_end(key)
            while len(_parsed) > PARSED_KEPT:
                _parsed.popitem(last=False)
    return list(scenarios)


PUBLISHED_KEPT = 1024
"""Scenario objects known to be in the store, the most recently used."""

_published_lock = threading.Lock()
_published: OrderedDict[str, None] = OrderedDict()


def publish_scenarios(
    bucket: str, namespace: str, benchmark: str, scenarios: list[Scenario], root: str = ""
) -> str:
    """The URI of the object an evaluation Job reads `scenarios` from. Its name is the digest of
    its content, so it is written once, by whichever launch comes first (a conditional PUT), and
    later launches on the same content, in any run, find it known here and write nothing."""
    data = "\n".join(sc.model_dump_json(by_alias=True) for sc in scenarios).encode()
    digest = hashlib.sha256(data).hexdigest()
    uri = benchmark_scenarios(bucket, namespace, benchmark, digest, root)
    with _published_lock:
        if uri in _published:
            _published.move_to_end(uri)
            return uri
    with contextlib.suppress(objectstore.AlreadyExists):
        objectstore.put_if_absent(uri, data, content_type="application/x-ndjson")
    with _published_lock:
        _published[uri] = None
        while len(_published) > PUBLISHED_KEPT:
            _published.popitem(last=False)
    return uri
