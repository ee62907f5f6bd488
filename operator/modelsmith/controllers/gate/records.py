"""The gate's write-once records in the object store (promotion and rollback), each checked
against a digest the gate's status holds before it is trusted."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from modelsmith.api.gate import PromotionGate
from modelsmith.contract import integrity, s3
from modelsmith.contract.layout import RunLayout, for_gate
from modelsmith.controllers.gate import RUNS
from modelsmith.controllers.gate.status import write
from modelsmith.readback import TamperError, read_verified
from modelsmith.runtime.core import Runtime

PROMOTION_RECORD = "promotion-record.json"
ROLLBACK_RECORD = "rollback-record.json"
BUNDLE = "bundle.json"


def layout_of(rt: Runtime, gate: PromotionGate) -> RunLayout:
    return for_gate(gate, rt.settings.bucket)


def recorded_promotion(
    rt: Runtime,
    body: dict[str, Any],
    gate: PromotionGate,
    old: dict[str, Any],
    document: dict[str, Any],
) -> tuple[dict[str, Any], str]:
    """The promotion record, once the evidence it promotes is checked. The record's digest goes
    into status before the record is written, so a record found in the store is accepted only
    if it is that one; anything else (a forgery written first, or over ours) is a tamper: kept
    aside, nothing promoted."""
    layout = layout_of(rt, gate)
    check_bundle(rt, gate, layout)
    uri = layout.evidence(PROMOTION_RECORD)
    stored = rt.store.get_bytes_or_none(uri)
    if stored is None:
        data = record_bytes(document)
        digest = integrity.sha256(data)
        if old.get("recordDigest") != digest:
            write(rt, body, old, {"recordDigest": digest})
            old["recordDigest"] = digest
        try:
            rt.store.put_if_absent(uri, data)
            stored = data
        except s3.AlreadyExists:
            stored = rt.store.get_bytes(uri)
    read_verified(rt.store, layout, uri, "the promotion record", old.get("recordDigest"))
    parsed: dict[str, Any] = json.loads(stored)
    return parsed, integrity.sha256(stored)


def check_bundle(rt: Runtime, gate: PromotionGate, layout: RunLayout) -> None:
    """The stored bundle must be the one whose digest approvers signed (the gate's spec). The
    run's status.integrity.bundleDigest says the operator wrote it (the same digest); a gate
    staged before runs recorded it has no bundle the operator vouched for, and is left as it
    was (its approvers signed a digest, and the pointer never comes from the bundle)."""
    run = rt.cache.get(RUNS, gate.namespace, gate.spec.run_ref.name) or {}
    recorded = ((run.get("status") or {}).get("integrity") or {}).get("bundleDigest")
    if recorded is None:
        return
    record = "the evidence bundle"
    if recorded != gate.spec.evidence.digest:
        raise TamperError(integrity.Tamper(record, "the gate carries another digest than its run"))
    if read_verified(rt.store, layout, layout.evidence(BUNDLE), record, recorded) is None:
        raise TamperError(integrity.Tamper(record, "it is missing"))


def rollback_absent(rt: Runtime, gate: PromotionGate) -> bool:
    return rt.store.get_bytes_or_none(layout_of(rt, gate).evidence(ROLLBACK_RECORD)) is None


def put_rollback(rt: Runtime, gate: PromotionGate, data: bytes) -> None:
    """Writes the rollback record once; one already there is checked when it is read."""
    with contextlib.suppress(s3.AlreadyExists):
        rt.store.put_if_absent(layout_of(rt, gate).evidence(ROLLBACK_RECORD), data)


def recorded_rollback(
    rt: Runtime, gate: PromotionGate, anchor: str | None
) -> tuple[dict[str, Any], str]:
    """The rollback record if it has the digest status holds (TamperError if not)."""
    layout = layout_of(rt, gate)
    uri = layout.evidence(ROLLBACK_RECORD)
    stored = read_verified(rt.store, layout, uri, "the rollback record", anchor)
    if stored is None:  # deleted between the two calls: look again on the next reconcile
        raise s3.ObjectStoreUnavailable("the rollback record vanished while read")
    parsed: dict[str, Any] = json.loads(stored)
    return parsed, integrity.sha256(stored)


def record_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, indent=2).encode() + b"\n"
