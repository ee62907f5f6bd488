"""The base of every loop value: frozen, camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class LoopModel(BaseModel):
    """Frozen, so a decision can never be edited after `decide` returns it; wire names match the
    IterationRun status (camelCase) so the run controller copies fields across by name."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def wire(self) -> dict[str, Any]:
        """camelCase JSON. Nulls are kept: a merge patch needs them to clear a stale field."""
        return self.model_dump(mode="json", by_alias=True)
