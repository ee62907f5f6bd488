"""Ledger entries: the run's append-only record. The run controller writes each one, write-once,
under the run's ledger prefix by sequence number; `decide` only composes them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from modelsmith.loop.assessment import AcceptanceVerdict
from modelsmith.loop.model import LoopModel
from modelsmith.loop.phases import Phase
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe
from modelsmith.loop.state import Scores


class LedgerKind(StrEnum):
    TRANSITION = "transition"
    DECISION = "decision"
    JOB = "job"
    RECIPE = "recipe"


class LedgerEntry(LoopModel):
    sequence: int = Field(ge=0)
    time: datetime
    kind: LedgerKind
    from_phase: Phase | None = Field(default=None, alias="from")
    to: Phase | None = None
    reason: Reason
    message: str
    iteration: int = Field(ge=0)
    attempt: int = Field(default=0, ge=0)
    recipe: Recipe | None = None
    weights: dict[str, float] | None = None
    """Per train scenario id (recipe entries): the ledger is inside the customer boundary."""
    scores: Scores | None = None
    verdict: AcceptanceVerdict | None = None
    previous: str = ""
    """sha256 of the entry before it as stored ("" for the first): the ledger is a hash chain
    whose head the run's status holds (contract.integrity). The run controller sets it on write."""

    def key(self) -> str:
        """The object name under the run's ledger prefix."""
        return f"{self.sequence:06d}.json"
