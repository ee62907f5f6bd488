"""The run's own records in the object store and the digests that vouch for them.

`Anchors` is the run's status.integrity and ledger head, carried through one reconcile: the
observation adds what Jobs reported, the ledger writes move the head, staging records the
bundle's digest, and `status.record` writes them back. Scorecards are read back against them
and the ledger is a hash chain whose head status holds (modelsmith.readback does the checked
reads and keeps a tampered object aside).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelsmith import loop
from modelsmith.contract import integrity, s3
from modelsmith.contract.integrity import ChainHead, Tamper
from modelsmith.contract.layout import RunLayout
from modelsmith.contract.objectstore import Store
from modelsmith.contract.scorecard import Scorecard
from modelsmith.readback import TamperError, quarantine, read_verified


@dataclass
class Anchors:
    """The digests status holds for the run (status.integrity, status.ledger.head)."""

    scorecards: dict[str, str] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    lineages: dict[str, str] = field(default_factory=dict)
    bundle: str | None = None
    head: ChainHead | None = None

    @classmethod
    def of(cls, status: dict[str, Any]) -> Anchors:
        held = status.get("integrity") or {}
        return cls(
            scorecards=dict(held.get("scorecards") or {}),
            results=dict(held.get("results") or {}),
            lineages=dict(held.get("lineages") or {}),
            bundle=held.get("bundleDigest"),
            head=ChainHead.of((status.get("ledger") or {}).get("head")),
        )

    def wire(self) -> dict[str, Any]:
        """status.integrity."""
        return {
            "scorecards": dict(self.scorecards),
            "results": dict(self.results),
            "lineages": dict(self.lineages),
            "bundleDigest": self.bundle,
        }

    def reported(self, phase: loop.Phase, iteration: int, digests: dict[str, str]) -> None:
        """Records what the iteration's finished Job reported (a later attempt's report replaces
        an earlier one's: it rewrote the objects)."""
        n = str(iteration)
        if phase is loop.Phase.TRAINING:
            for name, held in (
                (integrity.RESULT, self.results),
                (integrity.LINEAGE, self.lineages),
            ):
                if name in digests:
                    held[n] = digests[name]
        elif integrity.SCORECARD in digests:
            self.scorecards[n] = digests[integrity.SCORECARD]


def scorecard(
    store: Store, layout: RunLayout, iteration: int, expected: str | None
) -> Scorecard | None:
    record = f"the scorecard of iteration {iteration}"
    data = read_verified(store, layout, layout.scorecard(iteration), record, expected)
    return None if data is None else Scorecard.model_validate_json(data)


# --- the ledger ---------------------------------------------------------------------------------


def entry_bytes(entry: loop.LedgerEntry) -> bytes:
    return json.dumps(entry.wire(), sort_keys=True).encode()


def write_chain(
    store: Store, entries: Sequence[loop.LedgerEntry], head: ChainHead | None, layout: RunLayout
) -> ChainHead | None:
    """Writes `entries` in order, write-once, each linked to the one before; returns the new
    head. A replayed decision finds its entries there and adopts them if they link (what is
    stored is what the chain covers); an entry there that does not link is a tamper."""
    written = 0
    try:
        for entry in entries:
            if head is not None and entry.sequence <= head.sequence:
                continue  # recorded already (a block's entry written once the store answered)
            linked = entry.model_copy(update={"previous": integrity.link(head)})
            data = entry_bytes(linked)
            try:
                put_entry(store, layout, linked, data)
                head = ChainHead(entry.sequence, integrity.sha256(data))
            except s3.AlreadyExists:
                head = _adopt(store, layout, head, entry.sequence)
            written += 1
    except s3.ObjectStoreUnavailable as exc:
        if written:
            raise PartlyRecordedError(str(exc)) from exc
        raise
    return head


def put_entry(store: Store, layout: RunLayout, entry: loop.LedgerEntry, data: bytes) -> None:
    """One entry, write-once, under its sequence number."""
    store.put_if_absent(layout.ledger(entry.sequence), data)


def _adopt(store: Store, layout: RunLayout, head: ChainHead | None, sequence: int) -> ChainHead:
    uri = layout.ledger(sequence)
    stored = store.get_bytes(uri)
    adopted = integrity.adopt(head, sequence, stored)
    if adopted is None:
        quarantine(store, layout, uri, stored)
        why = "it does not carry the digest of the entry before it"
        raise TamperError(Tamper(f"ledger entry {sequence}", why, sequence))
    return adopted


def read_ledger(store: Store, layout: RunLayout, head: ChainHead | None) -> list[loop.LedgerEntry]:
    """Every entry of the run's ledger, checked against the chain and its head."""
    stored = [
        (info.uri, store.get_bytes(info.uri)) for info in store.iter_objects(layout.ledger_prefix())
    ]
    if (tamper := integrity.verify_chain([data for _, data in stored], head)) is not None:
        if tamper.position is not None:
            for uri, data in stored[tamper.position : tamper.position + tamper.span]:
                quarantine(store, layout, uri, data)
        raise TamperError(tamper)
    return [loop.LedgerEntry.model_validate_json(data) for _, data in stored]


class PartlyRecordedError(Exception):
    """The object store stopped answering while a decision was being acted on, after some of its
    ledger entries were written: only that same decision may follow them in the ledger, so the
    reconcile fails and replays it once the store answers, instead of deciding anew."""
