"""Deterministic names for what the run creates, so a restarted operator finds, and never
duplicates, what it created before."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from modelsmith.loop.phases import Phase

MAX_NAME: Final = 63
"""Job names become the `job-name` label value, which is a DNS-1123 label."""
DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HASH_LEN: Final = 8

JOB_KINDS: Final = {
    Phase.EVALUATING_BASELINE: "eval",
    Phase.TRAINING: "train",
    Phase.ASSESSING: "eval",
}


def job_kind(phase: Phase) -> str:
    try:
        return JOB_KINDS[phase]
    except KeyError:
        raise ValueError(f"phase {phase} runs no Job") from None


def job_name(run: str, key: str, iteration: int, phase: Phase, attempt: int) -> str:
    """'<run>-<key>-i<iteration>-<train|eval>-a<attempt>', e.g. 'support-run-1a2b3c4d-i1-train-a1'
    with `key` from `modelsmith.contract.layout.run_key`.

    A run name that does not fit, or is not itself a DNS label (object names may hold dots or
    exceed 63 characters), is cut and given 8 hex digits of its own sha256 too, so the name stays
    a DNS label and the same run always gets the same one."""
    if iteration < 0 or attempt < 1:
        raise ValueError("iteration must be >= 0 and attempt >= 1")
    if not re.fullmatch(r"[0-9a-f]{8}", key):
        raise ValueError("key must be 8 hex digits (see run_key)")
    suffix = f"-{key}-i{iteration}-{job_kind(phase)}-a{attempt}"
    room = MAX_NAME - len(suffix)
    if DNS_LABEL.match(run) and len(run) <= room:
        return run + suffix
    digest = hashlib.sha256(run.encode()).hexdigest()[:_HASH_LEN]
    cleaned = re.sub(r"[^a-z0-9-]+", "-", run.lower())
    prefix = cleaned[: room - _HASH_LEN - 1].strip("-")
    return f"{prefix}-{digest}{suffix}" if prefix else f"r{digest}{suffix}"


def gate_name(run: str) -> str:
    """A run stages one candidate, so its PromotionGate shares the run's name."""
    return run
