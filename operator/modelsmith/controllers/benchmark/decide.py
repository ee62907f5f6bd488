"""What a Benchmark's status says, from the object and the scenarios read for it. Pure: no API
calls, so every outcome is unit-tested without a cluster. Status never carries prompts or
criterion text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelsmith.api.benchmark import Benchmark
from modelsmith.benchmark.balance import balance_report
from modelsmith.benchmark.challenges import find_challenges
from modelsmith.benchmark.coverage import coverage, heldout_count
from modelsmith.benchmark.digest import changed_content, content_digest
from modelsmith.benchmark.verdict import judge
from modelsmith.contract.scenario import Scenario
from modelsmith.runtime.conditions import condition, ready_news, set_condition
from modelsmith.runtime.transitions import Transitions

MAX_CHALLENGES = 100  # the status schema bound; the count is in the Ready message
TRANSITIONS = Transitions(
    headline="Ready",
    conditions=("Ready",),
    warning=lambda _, ready: ready.get("status") != "True",
)


@dataclass(frozen=True)
class Outcome:
    """The status to write and when to look again (None: only on a watch event)."""

    status: dict[str, Any]
    requeue: float | None


def source_kind(benchmark: Benchmark) -> str:
    """Where the scenarios come from, as status.source names it."""
    if benchmark.spec.scenarios:
        return "inline"
    source = benchmark.spec.scenarios_from
    return "configMap" if source and source.config_map_ref else "s3"


def version_digest(old: dict[str, Any]) -> str | None:
    """The digest this version was first Ready with. Status written by an operator that did
    not record it yet: the digest it was Ready with."""
    kept = old.get("versionDigest")
    if kept:
        return str(kept)
    ready = (condition(old, "Ready") or {}).get("status") == "True"
    return str(old["digest"]) if ready and old.get("digest") else None


def _ready(
    old: dict[str, Any], status: dict[str, Any], ok: bool, reason: str, message: str
) -> dict[str, Any]:
    generation = status["observedGeneration"]
    status["conditions"] = set_condition(
        old.get("conditions"), "Ready", ok, reason, message, generation
    )
    return status


def unreadable(
    benchmark: Benchmark,
    old: dict[str, Any],
    generation: int | None,
    error: str,
    missing: bool,
    requeue_seconds: float,
) -> Outcome:
    """The scenarios could not be read: `missing` when the source does not exist."""
    status: dict[str, Any] = {"source": source_kind(benchmark), "observedGeneration": generation}
    reason = "SourceNotFound" if missing else "SourceInvalid"
    # A missing source may appear later, and a referenced document may be corrected in
    # place (a watch sees neither); inline scenarios change only with a new object.
    again: float | None = None
    if missing:
        again = requeue_seconds * 2
    elif benchmark.spec.scenarios_from:
        again = requeue_seconds * 12
    return Outcome(_ready(old, status, False, reason, error), again)


def decide(
    benchmark: Benchmark,
    old: dict[str, Any],
    generation: int | None,
    scenarios: list[Scenario],
    requeue_seconds: float,
) -> Outcome:
    """Status for scenarios that were read: digest, coverage, balance, challenges, verdict."""
    digest = content_digest(scenarios, benchmark.spec.version)
    first_digest = version_digest(old)
    changed = changed_content(first_digest, digest, benchmark.spec.version)
    if changed is not None:
        # Invalid for good, not for a moment: the digest stays the published one, which runs
        # pinned and intakes recorded; only the original content (or a new version) clears it.
        kept: dict[str, Any] = {"observedGeneration": generation, "digest": first_digest}
        return Outcome(_ready(old, kept, False, "ContentChanged", changed), requeue_seconds * 2)
    challenges = find_challenges(scenarios)
    verdict = judge(scenarios, challenges)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "digest": digest,
        "source": source_kind(benchmark),
        "scenarioCount": len(scenarios),
        "heldoutCount": heldout_count(scenarios),
        "coverage": coverage(scenarios).wire(),
        "balance": balance_report(scenarios, benchmark.spec.balance).wire(),
        "challenges": [c.wire() for c in challenges[:MAX_CHALLENGES]],
        "versionDigest": first_digest or (digest if verdict.ready else None),
    }
    _ready(old, status, verdict.ready, verdict.reason, verdict.message)
    # A referenced document may be edited in place, which no watch reports.
    again = requeue_seconds * 6 if benchmark.spec.scenarios_from else None
    return Outcome(status, again)


def wakes_intakes(old: dict[str, Any], status: dict[str, Any]) -> bool:
    """Whether intakes naming this benchmark must look again: they record its readiness and
    digest."""
    return ready_news(old, status) or old.get("digest") != status.get("digest", old.get("digest"))
