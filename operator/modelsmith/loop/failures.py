"""What a failed Job's exit means for the run (the exit codes are the images' contract)."""

from __future__ import annotations

import re
from typing import Final

from modelsmith.loop.observation import JobObservation
from modelsmith.loop.reasons import Reason

EXIT_UNEXPECTED: Final = 1
EXIT_CONTAMINATION: Final = 6
EXIT_OBJECT_STORE: Final = 8

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
