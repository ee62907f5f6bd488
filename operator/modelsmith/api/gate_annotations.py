"""The annotations people write on a PromotionGate: an approval per role of the approver chain
(`approval.modelsmith.io/<role>: "<approved|rejected>:<username>:<evidence>"`, the format
modelsmith.api.gate describes) and the rollback request, and the parser of the approval's value.

The operator, the kubectl plugin and the evidence admission check all read these; keeping the
format apart from the kind's models lets them parse an annotation without the gate's schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

APPROVAL_ANNOTATION_PREFIX = "approval.modelsmith.io/"
ROLLBACK_ANNOTATION = "modelsmith.io/rollback"
EVIDENCE_PREFIX_LENGTH = 12
_APPROVAL_VALUE = re.compile(r"^(approved|rejected):([^:]+):([a-f0-9]{12})$")


@dataclass(frozen=True)
class ApprovalAnnotation:
    """A parsed approval annotation."""

    role: str
    decision: Literal["approved", "rejected"]
    user: str
    evidence_prefix: str

    def value(self) -> str:
        return f"{self.decision}:{self.user}:{self.evidence_prefix}"

    def key(self) -> str:
        return f"{APPROVAL_ANNOTATION_PREFIX}{self.role}"

    def matches(self, evidence_digest: str) -> bool:
        """True when the approval was given on this evidence (a full sha256:... digest)."""
        return evidence_prefix(evidence_digest) == self.evidence_prefix


def evidence_prefix(digest: str) -> str:
    """The part of an evidence digest an approval annotation carries."""
    return digest.removeprefix("sha256:")[:EVIDENCE_PREFIX_LENGTH]


def parse_approval_annotation(key: str, value: str) -> ApprovalAnnotation | None:
    """The approval an annotation carries, or None when the key is not an approval annotation
    or the value is malformed (the operator records the latter as an invalid approval)."""
    if not key.startswith(APPROVAL_ANNOTATION_PREFIX):
        return None
    match = _APPROVAL_VALUE.match(value.strip())
    if match is None:
        return None
    decision: Literal["approved", "rejected"] = (
        "approved" if match.group(1) == "approved" else "rejected"
    )
    return ApprovalAnnotation(
        role=key.removeprefix(APPROVAL_ANNOTATION_PREFIX),
        decision=decision,
        user=match.group(2),
        evidence_prefix=match.group(3),
    )
