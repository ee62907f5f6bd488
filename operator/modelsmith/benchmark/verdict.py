"""Whether a benchmark's scenarios can be used, and if not, the first reason why.

Everything here is decided from the scenarios alone, before any Job runs: a defect found now
costs an edit, the same defect found by a training Job costs a baseline and a blocked run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelsmith.api.benchmark import Challenge
from modelsmith.contract.criteria import validate_scenarios
from modelsmith.contract.heldout import overlap_between, overlap_sources
from modelsmith.contract.jobspec import DEFAULT_OVERLAP_THRESHOLD
from modelsmith.contract.scenario import Scenario, Split

# How many findings a condition message lists before counting the rest.
_SHOWN = 3


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str
    message: str


def judge(scenarios: Sequence[Scenario], challenges: Sequence[Challenge]) -> Verdict:
    """Ready, or Invalid with the first blocking reason: unusable criteria, an empty split,
    held-out scenarios the training material reproduces, scenarios no answer can pass."""
    unusable = validate_scenarios(scenarios)
    if unusable:
        noun = "criterion" if len(unusable) == 1 else "criteria"
        return Verdict(
            False,
            "InvalidCriteria",
            f"{len(unusable)} {noun} cannot be evaluated: " + "; ".join(unusable[:_SHOWN]),
        )
    train = [s for s in scenarios if s.split == Split.TRAIN]
    heldout = [s for s in scenarios if s.split == Split.HELDOUT]
    if not heldout:
        return Verdict(
            False,
            "NoHeldout",
            "no held-out scenarios: promotion could never be measured on unseen scenarios",
        )
    if not train:
        return Verdict(
            False,
            "NoTrainScenarios",
            "no train scenarios: every scenario is held out, so there is nothing to train on; "
            "move some scenarios to the train split",
        )
    overlap = heldout_overlap(train, heldout)
    if overlap:
        return Verdict(False, "HeldoutOverlap", overlap)
    contradictory = [c for c in challenges if c.reason == "ContradictoryCriteria"]
    if contradictory:
        return Verdict(False, "ContradictoryCriteria", _contradictory_message(contradictory))
    return Verdict(
        True,
        "Validated",
        f"{len(scenarios)} scenarios, {len(heldout)} held out, "
        f"{len(challenges)} weak-rubric challenges",
    )


def heldout_overlap(train: Sequence[Scenario], heldout: Sequence[Scenario]) -> str | None:
    """The message for held-out scenarios the training material reproduces, by the trainer's
    own guard and threshold (so a run never learns it from a training Job), naming each with
    the train scenarios it shares its text with; None when there are none."""
    overlaps = overlap_between(train, heldout, DEFAULT_OVERLAP_THRESHOLD)
    if not overlaps:
        return None
    # Only the scenarios the message shows need their sharers found.
    sources = overlap_sources(train, heldout, overlaps[:_SHOWN], DEFAULT_OVERLAP_THRESHOLD)
    described = []
    for found in overlaps[:_SHOWN]:
        sharers = sources.get(found.scenario_id) or []
        noun = "scenario" if len(sharers) == 1 else "scenarios"
        which = f" with train {noun} {', '.join(sharers)}" if sharers else ""
        described.append(
            f"{found.scenario_id} shares {found.fraction:.0%} of its {found.part}{which}"
        )
    more = f" (and {len(overlaps) - _SHOWN} more)" if len(overlaps) > _SHOWN else ""
    noun = "scenario overlaps" if len(overlaps) == 1 else "scenarios overlap"
    return (
        f"{len(overlaps)} held-out {noun} the training material: "
        + "; ".join(described)
        + more
        + ". A score on a scenario the model trained on measures memory, not skill: make "
        "each held-out scenario distinct from its train look-alikes, or move it to the "
        "train split, in a new Benchmark version"
    )


def _contradictory_message(found: Sequence[Challenge]) -> str:
    noun = "scenario" if len(found) == 1 else "scenarios"
    listed = "; ".join(f"{c.scenario_id}: {c.detail}" for c in found[:_SHOWN])
    more = f" (and {len(found) - _SHOWN} more)" if len(found) > _SHOWN else ""
    return (
        f"{len(found)} {noun} can never pass, whatever the answer: {listed}{more}. Fix the "
        "criteria in a new Benchmark version"
    )
