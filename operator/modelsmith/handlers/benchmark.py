"""Benchmark reconciler: resolve the scenarios, then record digest, coverage, balance and
weak-rubric challenges in status. Status never carries prompts or criterion text."""

from __future__ import annotations

from typing import Any

import kopf

from modelsmith import kube, watched
from modelsmith.api.benchmark import Benchmark
from modelsmith.benchmark.balance import balance_report
from modelsmith.benchmark.challenges import find_challenges
from modelsmith.benchmark.coverage import coverage, heldout_count
from modelsmith.benchmark.digest import changed_content, content_digest
from modelsmith.benchmark.sources import BenchmarkSourceError
from modelsmith.benchmark.verdict import judge
from modelsmith.conditions import condition, ready_news, set_condition
from modelsmith.events import emit
from modelsmith.handlers.scenarios import SourceMissingError, fetch_scenarios
from modelsmith.reconciler import RECONCILER
from modelsmith.settings import OperatorSettings
from modelsmith.statusdiff import merge_patch

PLURAL = "benchmarks"
MAX_CHALLENGES = 100  # the status schema bound; the count is in the Ready message
SETTINGS = OperatorSettings()


@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_benchmark_event(**kwargs: Any) -> None:
    type, namespace, name = kwargs["type"], kwargs["namespace"], kwargs["name"]
    watched.seen(PLURAL, kwargs["event"])
    if type == "DELETED":
        RECONCILER.forget((PLURAL, namespace, name))
        RECONCILER.wake_referrers("modelintakes", namespace, "benchmarkRef", name)
    else:
        RECONCILER.reconcile(PLURAL, namespace, name, kwargs["meta"].get("resourceVersion"))


def reconcile(namespace: str, name: str) -> float | None:
    body = watched.take(PLURAL, namespace, name) or kube.get_custom(PLURAL, namespace, name)
    if body is None:
        return None
    benchmark = Benchmark.model_validate(body)
    old: dict[str, Any] = body.get("status") or {}
    generation = body["metadata"].get("generation")
    source = (
        "inline"
        if benchmark.spec.scenarios
        else (
            "configMap"
            if benchmark.spec.scenarios_from and benchmark.spec.scenarios_from.config_map_ref
            else "s3"
        )
    )
    again: float | None = None
    try:
        scenarios = fetch_scenarios(benchmark, namespace)
    except BenchmarkSourceError as err:
        reason = "SourceNotFound" if isinstance(err, SourceMissingError) else "SourceInvalid"
        # A missing source may appear later, and a referenced document may be corrected in
        # place (a watch sees neither); inline scenarios change only with a new object.
        if isinstance(err, SourceMissingError):
            again = SETTINGS.requeue_seconds * 2
        elif benchmark.spec.scenarios_from:
            again = SETTINGS.requeue_seconds * 12
        status: dict[str, Any] = {"source": source, "observedGeneration": generation}
        status["conditions"] = set_condition(
            old.get("conditions"), "Ready", False, reason, str(err), generation
        )
        _write(body, old, status)
        return again
    digest = content_digest(scenarios, benchmark.spec.version)
    version_digest = _version_digest(old)
    changed = changed_content(version_digest, digest, benchmark.spec.version)
    if changed is not None:
        # Invalid for good, not for a moment: the digest stays the published one, which runs
        # pinned and intakes recorded; only the original content (or a new version) clears it.
        status = {"observedGeneration": generation, "digest": version_digest}
        status["conditions"] = set_condition(
            old.get("conditions"), "Ready", False, "ContentChanged", changed, generation
        )
        _write(body, old, status)
        return SETTINGS.requeue_seconds * 2
    challenges = find_challenges(scenarios)
    balance = balance_report(scenarios, benchmark.spec.balance)
    verdict = judge(scenarios, challenges)
    status = {
        "observedGeneration": generation,
        "digest": digest,
        "source": source,
        "scenarioCount": len(scenarios),
        "heldoutCount": heldout_count(scenarios),
        "coverage": coverage(scenarios).wire(),
        "balance": balance.wire(),
        "challenges": [c.wire() for c in challenges[:MAX_CHALLENGES]],
        "versionDigest": version_digest or (digest if verdict.ready else None),
    }
    status["conditions"] = set_condition(
        old.get("conditions"),
        "Ready",
        verdict.ready,
        verdict.reason,
        verdict.message,
        generation,
    )
    _write(body, old, status)
    if benchmark.spec.scenarios_from:
        again = SETTINGS.requeue_seconds * 6  # notice a referenced document edited in place
    return again


def _version_digest(old: dict[str, Any]) -> str | None:
    """The digest this version was first Ready with. Status written by an operator that did
    not record it yet: the digest it was Ready with."""
    kept = old.get("versionDigest")
    if kept:
        return str(kept)
    ready = (condition(old, "Ready") or {}).get("status") == "True"
    return str(old["digest"]) if ready and old.get("digest") else None


def _write(body: dict[str, Any], old: dict[str, Any], status: dict[str, Any]) -> None:
    meta = body["metadata"]
    patch = merge_patch(old, status)
    if not patch:
        return
    RECONCILER.write_status(PLURAL, meta["namespace"], meta["name"], patch)
    # An intake records the benchmark's readiness and digest.
    if ready_news(old, status) or old.get("digest") != status.get("digest", old.get("digest")):
        RECONCILER.wake_referrers("modelintakes", meta["namespace"], "benchmarkRef", meta["name"])
    before = condition(old, "Ready") or {}
    after = next(c for c in status["conditions"] if c["type"] == "Ready")
    if (before.get("status"), before.get("reason")) != (after["status"], after["reason"]):
        emit(
            body,
            "Normal" if after["status"] == "True" else "Warning",
            after["reason"],
            after["message"],
        )


RECONCILER.register(PLURAL, reconcile)
