"""What the demo's watch (`demo_watch.py`) and its closing summary (`demo_summary.py`) read
from the cluster, and how they print it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

GROUP = "modelsmith.io"
VERSION = "v1alpha1"

Obj = dict[str, Any]


class WatchError(Exception):
    """Ends the command with a message and exit code 1."""


# --- reading ------------------------------------------------------------------------------------


@dataclass
class Api:
    custom: Any
    core: Any

    @classmethod
    def connect(cls) -> Api:
        # KUBECONFIG, as kubectl reads it
        api_client = config.new_client_from_config()  # type: ignore[no-untyped-call]
        return cls(client.CustomObjectsApi(api_client), client.CoreV1Api(api_client))

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        try:
            obj: Obj = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def events(self, namespace: str, name: str) -> list[Obj]:
        listing = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}", _preload_content=False
        )
        items: list[Obj] = json.loads(listing.data).get("items") or []
        return items

    def config_map(self, namespace: str, name: str) -> Obj | None:
        try:
            return dict(self.core.read_namespaced_config_map(name, namespace).to_dict())
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise


def status_of(obj: Obj | None) -> Obj:
    status = (obj or {}).get("status") or {}
    return status if isinstance(status, dict) else {}


def condition(obj: Obj | None, kind: str) -> Obj | None:
    for cond in status_of(obj).get("conditions") or []:
        if cond.get("type") == kind:
            result: Obj = cond
            return result
    return None


# --- formatting ---------------------------------------------------------------------------------


def clock(stamp: str | None) -> str:
    """HH:MM:SS (UTC) of an RFC 3339 time, or of now."""
    if stamp:
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).strftime("%H:%M:%S")
        except ValueError:
            return stamp
    return datetime.now(UTC).strftime("%H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return "?"
    total = max(round(value), 0)
    minutes, secs = divmod(total, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def say(text: str) -> None:
    print(text, flush=True)


