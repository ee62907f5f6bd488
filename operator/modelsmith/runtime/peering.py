"""Peering for the operator's own reconcile loop.

kopf pauses its watch streams while a live peer of higher or equal priority is listed in the
peering object, but the runtime's requeue thread and pool are not kopf's: without this, a
paused replica would keep acting on every object it had already seen. The same rule kopf
applies is read here from the same object, and the queue holds while it says so.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from modelsmith.runtime import kube
from modelsmith.runtime.cache import KOPF_FED, Cache

log = logging.getLogger("modelsmith.peering")

KOPF: Final = "kopf.dev/v1"
DEFAULT_LIFETIME = 60  # kopf's default keep-alive lifetime, seconds


class Holdable(Protocol):
    def hold(self) -> None: ...

    def release(self) -> None: ...


def own_identity() -> str:
    """This replica's name in the peering object: the pod's name where the chart sets POD_ID
    (as kopf itself would use), otherwise a random one (never the host's name)."""
    return os.environ.get("POD_ID") or f"modelsmith-{uuid.uuid4().hex[:12]}"


def outranked(peers: Mapping[str, Any], identity: str, priority: int, now: datetime) -> list[str]:
    """The live peers this replica must yield to: kopf pauses for any peer of higher or equal
    priority whose last keep-alive is within its lifetime."""
    found = []
    for peer_id, peer in peers.items():
        if peer_id == identity or not isinstance(peer, Mapping):
            continue
        try:
            lastseen = datetime.fromisoformat(str(peer["lastseen"]))
            lifetime = timedelta(seconds=int(peer.get("lifetime", DEFAULT_LIFETIME)))
            their_priority = int(peer.get("priority", 0))
        except (KeyError, TypeError, ValueError):
            continue  # not a keep-alive kopf would count either
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=UTC)
        if lastseen + lifetime > now and their_priority >= priority:
            found.append(peer_id)
    return sorted(found)


class PeeringWatch:
    """Reads the peering object every `interval` seconds and holds `target` while another live
    replica outranks this one. It starts holding: nothing acts before the first read says this
    replica may (kopf's own watch streams start paused the same way with mandatory peering)."""

    def __init__(
        self,
        target: Holdable,
        cache: Cache,
        name: str,
        identity: str,
        priority: int,
        namespaces: Iterable[str] = (),
        interval: float = 2.0,
    ) -> None:
        self._target = target
        self._cache = cache
        self._name = name
        self._identity = identity
        self._priority = priority
        self._namespaces = list(namespaces)
        self._interval = interval
        self._stop = threading.Event()
        self._holding = True
        self._unreadable = False
        target.hold()

    def start(self) -> PeeringWatch:
        threading.Thread(target=self._loop, name="peering", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _peers(self) -> dict[str, Any]:
        """Every peer listed for this peering name (one object per namespace when namespaced)."""
        paths = (
            [kube.path(KOPF, "kopfpeerings", ns, self._name) for ns in self._namespaces]
            if self._namespaces
            else [kube.path(KOPF, "clusterkopfpeerings", name=self._name)]
        )
        objects = [kube.rest("GET", path) for path in paths]
        peers: dict[str, Any] = {}
        for obj in objects:
            peers.update(obj.get("status") or {})
        return peers

    def check(self) -> None:
        """One read and, when the verdict changed, hold or release the target."""
        try:
            peers = self._peers()
        except Exception as exc:  # an HTTP error or no connection at all: the same verdict
            # Unreadable: keep the last verdict. kopf cannot keep its own alive either, so a
            # replica that cannot see its peers does not start acting on its own.
            if not self._unreadable:
                log.warning(
                    "peering %s unreadable (%s); keeping the last verdict",
                    self._name,
                    getattr(exc, "status", None) or type(exc).__name__,
                )
            self._unreadable = True
            return
        self._unreadable = False
        above = outranked(peers, self._identity, self._priority, datetime.now(UTC))
        if above and not self._holding:
            log.info("holding reconciles: peer %s outranks this replica", ", ".join(above))
            self._target.hold()
        elif not above and self._holding:
            log.info(
                "reconciling: no live peer outranks this replica (priority %d)", self._priority
            )
            self._cache.clear(KOPF_FED)  # what the paused watches delivered may be behind
            self._target.release()
        self._holding = bool(above)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self._interval)
