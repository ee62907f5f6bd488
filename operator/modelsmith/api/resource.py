"""What the CRD generator needs to know about a kind beyond its spec and status models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelsmith.api.base import ApiModel
from modelsmith.api.common import GROUP

READY_COLUMN_PATH = '.status.conditions[?(@.type=="Ready")].status'


@dataclass(frozen=True)
class PrinterColumn:
    """One `kubectl get` column. Priority 1 columns show only with `-o wide`."""

    name: str
    type: str  # string | integer | number | boolean | date
    json_path: str
    description: str
    priority: int = 0

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            out["priority"] = self.priority
        return out


AGE_COLUMN = PrinterColumn(
    "Age", "date", ".metadata.creationTimestamp", "Time since the object was created."
)


def ready_column(description: str) -> PrinterColumn:
    return PrinterColumn("Ready", "string", READY_COLUMN_PATH, description)


@dataclass(frozen=True)
class ResourceKind:
    """A kind in modelsmith.io/v1alpha1 with a status subresource (namespaced unless told)."""

    kind: str
    plural: str
    short_name: str
    spec: type[ApiModel]
    status: type[ApiModel]
    description: str
    columns: tuple[PrinterColumn, ...]
    # Rules on the whole object, for checks spanning spec and status or surviving the removal
    # of a whole subtree.
    validations: tuple[dict[str, Any], ...] = ()
    selectable_fields: tuple[str, ...] = field(default=())
    # Cluster-scoped kinds are the admin-owned ones no namespace editor can write.
    namespaced: bool = True

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"
