"""The one exception a criterion raises when it cannot be checked at all."""

from __future__ import annotations

from typing import Literal

Problem = Literal["unknown-kind", "malformed-criterion", "invalid-regex"]


class CriterionError(ValueError):
    """A criterion that is unknown or malformed: no answer could ever be scored against it.

    The evaluator maps this to its "unknown/malformed criterion" exit code; the Benchmark
    reconciler reports `str(error)`. The message names the criterion kind and what is wrong and
    never quotes the criterion's own text, because it ends up on shared surfaces."""

    def __init__(self, kind: str, reason: str, problem: Problem = "malformed-criterion") -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.problem: Problem = problem
