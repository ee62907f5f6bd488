"""A run's inputs, pinned at its start: the intake's spec, the Benchmark's content and the
intake's training data.

When a run leaves Pending the controller records, in status.pinned, the digest of the intake's
spec, the Benchmark's content digest, the digest of the scenario snapshot (written once, named
by its digest) and the digest of the training data the intake names; the intake's spec and the
training data's bytes go to the run's store prefix. From then on:
- every Job of the run reads the snapshots, never the Benchmark or the training data as they
  are now, so an edited ConfigMap or object changes nothing the run reads;
- the run works on the pinned spec: the live intake while its spec has the pinned digest, else
  the stored spec, which is read back only if its bytes have that digest;
- a missing or changed intake, or a missing Benchmark, is an InputProblem (`loop.pinning`).
Nothing read back from the store is trusted without the digest status holds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelsmith import loop
from modelsmith.api.benchmark import Benchmark
from modelsmith.api.intake import ModelIntake
from modelsmith.benchmark.digest import canonical_json, content_digest
from modelsmith.benchmark.sources import BenchmarkSourceError, scenarios_from_object
from modelsmith.benchmark.trainingdata import digest as training_data_digest
from modelsmith.contract import readlimits, s3
from modelsmith.contract.layout import RunLayout, benchmark_scenarios
from modelsmith.contract.objectstore import Store
from modelsmith.contract.scenario import Scenario
from modelsmith.controllers.run.trainingdata import read_for_pin
from modelsmith.runtime import kube
from modelsmith.runtime.cache import resource_version
from modelsmith.runtime.core import Runtime
from modelsmith.scenarios import Snapshot, fetch_scenarios, publish_scenarios

INTAKE_SPEC = "intake-spec.json"
TRAINING_DATA = "training-data.jsonl"
SNAPSHOT_GROWTH = 4
"""The snapshot is JSON lines with every default written out: larger than the source the
Benchmark was read from, whose limit is max_inline_benchmark_bytes."""


class PinMismatchError(s3.ObjectStoreError):
    """What the store holds for a pinned input is missing or is not what status pinned: the
    run's inputs cannot be trusted, so nothing is launched or staged from them. The reconcile
    fails and the run shows it (reconcile_errors: the object store answered unexpectedly,
    naming which pinned input)."""


@dataclass(frozen=True)
class Pin:
    intake_spec_digest: str
    benchmark_digest: str
    scenarios_digest: str
    pinned_at: str
    training_data_digest: str | None = None
    """None: the pinned intake spec names no training data."""

    def wire(self) -> dict[str, str]:
        wire = {
            "intakeSpecDigest": self.intake_spec_digest,
            "benchmarkDigest": self.benchmark_digest,
            "scenariosDigest": self.scenarios_digest,
            "pinnedAt": self.pinned_at,
        }
        if self.training_data_digest is not None:
            wire["trainingDataDigest"] = self.training_data_digest
        return wire


@dataclass(frozen=True)
class Inputs:
    """The run's inputs this reconcile: the intake spec it works on (None: none known yet), its pin
    (None before the start), what is wrong with them, and why a Pending run may not start."""

    intake: ModelIntake | None
    pin: Pin | None
    problem: loop.InputProblem | None = None
    waiting: str | None = None
    store_down: bool = False
    """The snapshots could not be written: the run does not start (it blocks on the store)."""


def spec_digest(spec: dict[str, Any]) -> str:
    """`sha256:<hex>` of a spec in canonical JSON, the bytes the stored copy holds: the same
    spec, however its keys are ordered or its object re-created, has the same digest."""
    return "sha256:" + hashlib.sha256(canonical_json(spec)).hexdigest()


def pinned(body: dict[str, Any]) -> Pin | None:
    data = (body.get("status") or {}).get("pinned")
    if not isinstance(data, dict):
        return None
    return Pin(
        intake_spec_digest=data["intakeSpecDigest"],
        benchmark_digest=data["benchmarkDigest"],
        scenarios_digest=data["scenariosDigest"],
        pinned_at=data["pinnedAt"],
        training_data_digest=data.get("trainingDataDigest"),
    )


def resolve(
    rt: Runtime,
    body: dict[str, Any],
    intake_body: dict[str, Any] | None,
    live: ModelIntake | None,
    ready: bool,
    layout: RunLayout,
) -> Inputs:
    """The run's inputs. A run not started yet pins once its intake is ready (status records
    the pin when the decision starts it); a run started by an operator that did not pin pins
    what there is now. `live` is `intake_body` as validated by the caller (None: no intake);
    the inputs name that same object when the run works on the live intake."""
    namespace = body["metadata"]["namespace"]
    pin = pinned(body)
    started = bool((body.get("status") or {}).get("startedAt"))
    if pin is None:
        if live is None or not (ready or started):
            return Inputs(live, None)
        inputs = _pin_now(rt, namespace, live, intake_body or {}, layout)
        if started and inputs.waiting is not None:
            # Started by an operator that did not pin, and nothing to pin now: the run must not
            # go on with inputs it cannot name.
            name = live.spec.benchmark_ref.name
            unpinned = loop.InputProblem(
                reason=loop.Reason.BENCHMARK_MISSING,
                message=f"its Benchmark {name} cannot be pinned ({inputs.waiting})",
            )
            return Inputs(live, None, problem=unpinned)
        return inputs
    digest = spec_digest(intake_body["spec"]) if intake_body else None
    same = live is not None and digest == pin.intake_spec_digest
    intake = live if live is not None and same else _stored_intake(rt.store, body, pin, layout)
    benchmark = intake.spec.benchmark_ref.name
    # The watch reports every Benchmark it sees; one it has not reported is asked for.
    present = (
        rt.cache.version("benchmarks", namespace, benchmark) is not None
        or kube.get_custom("benchmarks", namespace, benchmark) is not None
    )
    problem = loop.input_problem(
        intake.name, pin.intake_spec_digest, digest, benchmark, benchmark_present=present
    )
    return Inputs(intake, pin, problem)


@dataclass(frozen=True)
class BenchmarkRead:
    """A Benchmark as a run reads it: the object and the content digest its status vouches for."""

    benchmark: Benchmark
    digest: str | None


def read_benchmark(rt: Runtime, namespace: str, name: str) -> BenchmarkRead | None:
    """The Benchmark `namespace/name` (None: it does not exist). Its body is not cached (500
    Benchmarks would take tens of MB, `runtime.cache`), but what a run derives from it is kept
    per resourceVersion (`Runtime.benchmarks`): while the watch reports the version read last,
    that body is the current one, and it is read again only after a change."""
    version = rt.cache.version("benchmarks", namespace, name)
    kept = rt.benchmarks.get((namespace, name))
    if version is not None and kept is not None and kept[0] == version:
        found: BenchmarkRead = kept[1]
        return found
    body = kube.get_custom("benchmarks", namespace, name)
    if body is None:
        return None
    read = BenchmarkRead(
        Benchmark.model_validate(body), (body.get("status") or {}).get("digest")
    )
    if (read_version := resource_version(body)) is not None:
        rt.benchmarks.put((namespace, name), (read_version, read))
    return read


def _pin_now(
    rt: Runtime, namespace: str, intake: ModelIntake, intake_body: dict[str, Any], layout: RunLayout
) -> Inputs:
    name = intake.spec.benchmark_ref.name
    read = read_benchmark(rt, namespace, name)
    if read is None:
        return Inputs(intake, None, waiting="BenchmarkNotFound")
    benchmark = read.benchmark
    try:
        scenarios = fetch_scenarios(rt, benchmark, namespace)
    except BenchmarkSourceError:
        return Inputs(intake, None, waiting="BenchmarkSourceUnreadable")
    digest = content_digest(scenarios, benchmark.spec.version)
    if read.digest and digest != read.digest:
        # Read between an edit of its source and the Benchmark's verdict on it: the run starts
        # only on content the Benchmark has vouched for.
        return Inputs(intake, None, waiting="BenchmarkContentChanging")
    try:
        supplied = read_for_pin(rt.store, intake.spec.training_data, namespace, layout.bucket)
    except BenchmarkSourceError:
        return Inputs(intake, None, waiting="TrainingDataUnreadable")
    spec = canonical_json(intake_body["spec"])
    snapshot = Snapshot.of(scenarios)
    try:
        publish_scenarios(rt, layout.bucket, namespace, name, snapshot, layout.root)
        # Overwritten, not write-once: until status holds the pin nothing trusts these objects,
        # and a start replayed after a crash writes the same bytes.
        rt.store.put_bytes(layout.pinned(INTAKE_SPEC), spec, content_type="application/json")
        if supplied is not None:
            rt.store.put_bytes(layout.pinned(TRAINING_DATA), supplied)
    except s3.ObjectStoreUnavailable:
        return Inputs(intake, None, store_down=True)
    pin = Pin(
        intake_spec_digest=spec_digest(intake_body["spec"]),
        benchmark_digest=digest,
        scenarios_digest="sha256:" + snapshot.sha256,
        pinned_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        training_data_digest=None if supplied is None else training_data_digest(supplied),
    )
    rt.parsed_scenarios.put(pin.scenarios_digest, list(scenarios))
    return Inputs(intake, pin)


def _stored_intake(store: Store, body: dict[str, Any], pin: Pin, layout: RunLayout) -> ModelIntake:
    data = store.get_bytes_or_none(layout.pinned(INTAKE_SPEC), readlimits.ObjectKind.RECORD)
    if data is None or "sha256:" + hashlib.sha256(data).hexdigest() != pin.intake_spec_digest:
        raise PinMismatchError(
            "the intake spec the run pinned is missing from the store or is not what status "
            "pinned (intakeSpecDigest)"
        )
    name = body["spec"]["intakeRef"]["name"]
    return ModelIntake.model_validate(
        {
            "apiVersion": "modelsmith.io/v1alpha1",
            "kind": "ModelIntake",
            "metadata": {"name": name, "namespace": body["metadata"]["namespace"]},
            "spec": json.loads(data),
        }
    )


def training_data(store: Store, pin: Pin, layout: RunLayout, intake: ModelIntake) -> bytes | None:
    """The training data the run pinned (None: its intake spec names none), read back only if
    its bytes have the pinned digest: what the source holds now is never read again."""
    if intake.spec.training_data is None:
        return None
    if pin.training_data_digest is None:
        # Pinned by an operator that did not pin training data: training on what the source
        # holds now would be training on inputs the run cannot name.
        raise PinMismatchError(
            "the run's intake spec names training data its pin does not (no "
            "trainingDataDigest): start a new run to train on it"
        )
    data = store.get_bytes_or_none(
        layout.pinned(TRAINING_DATA), readlimits.ObjectKind.TRAINING_DATA
    )
    if data is None or training_data_digest(data) != pin.training_data_digest:
        raise PinMismatchError(
            "the training data the run pinned is missing from the store or is not what status "
            "pinned (trainingDataDigest)"
        )
    return data


def scenarios_uri(pin: Pin, layout: RunLayout, namespace: str, intake: ModelIntake) -> str:
    """The snapshot every evaluation Job of the run reads: named by the pinned digest."""
    return benchmark_scenarios(
        layout.bucket,
        namespace,
        intake.spec.benchmark_ref.name,
        pin.scenarios_digest.removeprefix("sha256:"),
        layout.root,
    )


def scenarios(
    rt: Runtime, pin: Pin, layout: RunLayout, namespace: str, intake: ModelIntake
) -> list[Scenario]:
    """The pinned scenarios, read back from their snapshot only if its bytes have the pinned
    digest (then kept parsed: content-addressed, they never change)."""
    kept = rt.parsed_scenarios.get(pin.scenarios_digest)
    if kept is not None:
        return list(kept)
    limit = rt.settings.max_inline_benchmark_bytes * SNAPSHOT_GROWTH
    data = rt.store.get_bytes_or_none(
        scenarios_uri(pin, layout, namespace, intake), readlimits.ObjectKind.SCENARIOS, limit
    )
    if data is None or "sha256:" + hashlib.sha256(data).hexdigest() != pin.scenarios_digest:
        raise PinMismatchError(
            "the scenario snapshot the run pinned is missing from the store or is not what "
            "status pinned (scenariosDigest)"
        )
    parsed = scenarios_from_object(data, origin="the pinned scenario snapshot", max_bytes=limit)
    rt.parsed_scenarios.put(pin.scenarios_digest, list(parsed))
    return list(parsed)
