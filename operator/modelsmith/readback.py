"""Reading back from the object store only what the cluster vouches for: an object is trusted
when its sha256 is the digest a status holds for it (contract.integrity holds the decisions;
this is where they meet the store). The run controller reads its scorecards, ledger and bundle
this way, the gate controller its bundle and its promotion and rollback records.

A tampered object is copied aside under the run's quarantine/ (the evidence of the tamper
outlives a writer that deletes it again) and a `TamperError` names the record, never its key.
"""

from __future__ import annotations

import contextlib

from modelsmith.contract import integrity, s3
from modelsmith.contract.integrity import Tamper
from modelsmith.contract.layout import RunLayout
from modelsmith.contract.objectstore import Store


class TamperError(Exception):
    """An object read back does not match the digest the cluster holds for it."""

    def __init__(self, tamper: Tamper) -> None:
        super().__init__(tamper.message)
        self.tamper = tamper


def quarantine(store: Store, layout: RunLayout, uri: str, data: bytes) -> None:
    """Keeps a copy of a tampered object under the run's quarantine/ (write-once: a second
    forgery of the same bytes is the same evidence)."""
    name = uri.removeprefix(layout.uri(layout.prefix))
    target = layout.uri(layout.prefix + integrity.quarantine_name(name, data))
    with contextlib.suppress(s3.AlreadyExists):
        store.put_if_absent(target, data, content_type="application/octet-stream")


def read_verified(
    store: Store, layout: RunLayout, uri: str, record: str, expected: str | None
) -> bytes | None:
    """The object at `uri` if it matches `expected`; None when there is none; TamperError
    (after keeping a copy) when it does not match."""
    data = store.get_bytes_or_none(uri)
    if data is None:
        return None
    if (tamper := integrity.check(record, expected, data)) is not None:
        quarantine(store, layout, uri, data)
        raise TamperError(tamper)
    return data
