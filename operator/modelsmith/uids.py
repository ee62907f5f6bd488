"""How a status names an object the operator created and acts on (a run's Job in
status.memory.job, its PromotionGate in status.gate): by its name and the sha256 of its UID.
A name proves nothing (anyone who may create the kind there may take it or plant another under
it); the UID does, and status carries no opaque identifiers, so it holds the UID's digest. An
object deleted and made again under the name gets another UID, so another digest."""

from __future__ import annotations

import hashlib
from typing import Any


def uid_digest(uid: str) -> str:
    """How a status names an object's UID: its sha256."""
    return "sha256:" + hashlib.sha256(uid.encode()).hexdigest()


def records(record: dict[str, Any], meta: dict[str, Any]) -> bool:
    """Whether the status `record` ({name, uidDigest}) names the object with metadata `meta`."""
    uid = meta.get("uid")
    return (
        record.get("name") == meta.get("name")
        and bool(uid)
        and record.get("uidDigest") == uid_digest(str(uid))
    )
