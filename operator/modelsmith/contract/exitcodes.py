"""Exit codes of the trainer and evaluator images: the contract between a Job's container and
the operator, which reads them from the pod's terminated state.

Codes 2 to 7 say the run's own inputs are wrong, so running the same Job again gives the same
answer; 1 and 8 may pass on a retry. 9: the Job's store credential is not the one the operator
minted for it (`storecredential`); its Secret stays replaced, so the Job's retries refuse too,
and the next attempt gets a credential of its own."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    BAD_SPEC = 2
    MODEL_MISSING = 3
    MODEL_CORRUPT = 4
    EMPTY_SPLIT = 5
    CONTAMINATION = 6
    BAD_CRITERION = 7
    OBJECT_STORE_UNAVAILABLE = 8
    FOREIGN_CREDENTIAL = 9

    @property
    def reason(self) -> str:
        """A CamelCase reason code for termination messages and logs."""
        return _REASONS[self]


_REASONS = {
    ExitCode.OK: "Succeeded",
    ExitCode.UNEXPECTED: "UnexpectedError",
    ExitCode.BAD_SPEC: "BadSpec",
    ExitCode.MODEL_MISSING: "ModelMissing",
    ExitCode.MODEL_CORRUPT: "ModelCorrupt",
    ExitCode.EMPTY_SPLIT: "EmptySplit",
    ExitCode.CONTAMINATION: "HeldoutContamination",
    ExitCode.BAD_CRITERION: "MalformedCriterion",
    ExitCode.OBJECT_STORE_UNAVAILABLE: "ObjectStoreUnavailable",
    ExitCode.FOREIGN_CREDENTIAL: "ForeignCredential",
}
