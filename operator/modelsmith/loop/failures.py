"""What a failed Job's exit means for the run (the exit codes are the images' contract)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Final

from modelsmith.loop.observation import JobObservation
from modelsmith.loop.reasons import Reason

EXIT_UNEXPECTED: Final = 1
EXIT_CONTAMINATION: Final = 6
EXIT_OBJECT_STORE: Final = 8
EXIT_FOREIGN_CREDENTIAL: Final = 9

FATAL_EXITS: Final[dict[int, tuple[Reason, str]]] = {
    2: (Reason.BAD_SPEC, "the Job refused its specification"),
    3: (Reason.MODEL_MISSING, "the base model is missing"),
    4: (Reason.MODEL_CORRUPT, "the base model could not be loaded"),
    5: (Reason.EMPTY_SPLIT, "a benchmark split it needs is empty"),
    7: (Reason.MALFORMED_CRITERION, "a benchmark criterion is unknown or malformed"),
}
"""Exits that say the run's own inputs are wrong. Running the same Job again gives the same
answer, so the run fails at once instead of spending its retry budget."""

_RETRYABLE_WORDS: Final = {
    EXIT_UNEXPECTED: "an unexpected error",
    EXIT_OBJECT_STORE: "the Job could not reach the object store",
}
_CAMEL: Final = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")
_SCENARIO_ID: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_OVERLAPPING: Final = 10
"""How many held-out ids a contamination block names; the rest are counted."""

CONTAINER_NEVER_RAN: Final[dict[str, str]] = {
    "ErrImagePull": "its image could not be pulled",
    "ImagePullBackOff": "its image could not be pulled",
    "InvalidImageName": "its image name is invalid",
    "CreateContainerConfigError": "a Secret or ConfigMap its container needs is missing",
    "CreateContainerError": "its container could not be created",
    "StartError": "its container could not be started",
}
"""Container reasons that say the image never ran, so no exit code speaks for it. A kubelet
shows them as the container's *waiting* reason and keeps a Never-restart pod Pending, holding
its GPUs until the Job's activeDeadlineSeconds (hours); only a terminated container with one of
them ends the Job by itself."""


def container_start_wait(job: JobObservation, now: datetime, grace_seconds: float) -> float | None:
    """Seconds the Job's pod may still wait on a container that cannot start (ErrImagePull,
    CreateContainerConfigError, ...) before the attempt counts as failed; 0 once that time is
    up; None when no container waits for such a reason.

    The grace is there because these can clear up by themselves: a registry that was down a
    moment, a Secret created just after the run. It runs from when the pod was scheduled (the
    first moment its containers could start), as the kubelet keeps no time per waiting reason."""
    if job.waiting_reason not in CONTAINER_NEVER_RAN:
        return None
    since = job.waiting_since or now
    return max(grace_seconds - (now - since).total_seconds(), 0.0)


def start_failure_words(job: JobObservation, grace_seconds: float) -> str:
    """Why a Job's container never started, in words safe for status (no container message:
    it may name registries or Secrets)."""
    reason = job.waiting_reason or ""
    what = CONTAINER_NEVER_RAN.get(reason, "its container could not start")
    return f"could not start: {what} ({reason}) for {grace_seconds:g} s"


def failure_words(job: JobObservation) -> str:
    """Why a retryable Job failed, in words safe for status: the exit code's meaning and the
    Kubernetes reason code, never the container's own message."""
    parts: list[str] = []
    if job.exit_code is not None:
        meaning = _RETRYABLE_WORDS.get(job.exit_code, "an error")
        parts.append(f"exit code {job.exit_code}: {meaning}")
    if job.reason and _CAMEL.match(job.reason):
        parts.append(job.reason)
    return "; ".join(parts) if parts else "no exit code reported"


def contamination_ids(terminated: dict[str, Any] | None) -> tuple[str, ...]:
    """The held-out scenario ids a Job's termination message names as reproduced by the
    training material (`details.overlaps[].scenario_id`, the images' contract). Only strings
    shaped like scenario ids are kept: the message is the Job's output, and what is kept goes
    into the run's status."""
    try:
        message = json.loads((terminated or {}).get("message") or "{}")
        overlaps = message["details"]["overlaps"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return ()
    if not isinstance(overlaps, list):
        return ()
    ids = [o.get("scenario_id") for o in overlaps if isinstance(o, dict)]
    return tuple(dict.fromkeys(i for i in ids if isinstance(i, str) and _SCENARIO_ID.match(i)))


def resumed_from_step(terminated: dict[str, Any] | None) -> int | None:
    """The checkpoint step a training Job's termination message says it continued from
    (`details.resumed_from_step`). Only a positive integer is kept: it is shown, never acted on."""
    try:
        details = json.loads((terminated or {}).get("message") or "{}")["details"]
    except (ValueError, TypeError, KeyError):
        return None
    return step_number(details.get("resumed_from_step") if isinstance(details, dict) else None)


def step_number(value: Any) -> int | None:
    """`value` when it is a positive integer (a step an image reported), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
