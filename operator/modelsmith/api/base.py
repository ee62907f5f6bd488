"""The base every API model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Wire names are the Kubernetes camelCase; unknown fields are refused, so a typo in a
    manifest read by the operator fails loudly instead of being ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
    )

    def wire(self) -> dict[str, Any]:
        """The object as it appears in YAML/JSON on the API server (camelCase, no unset nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
