"""What the operator reads back from the object store is checked against a digest the cluster
already holds; these are the decisions, pure.

Anyone holding the Jobs' store credentials could rewrite an object after it was written, so an
object's own content never vouches for itself. The anchors are cluster-held: a Job's container
termination message (the API server keeps it in the pod's status; the Job cannot change it after
it exits), the run's and the gate's status (written by the operator only), the gate's immutable
spec, and the ledger's hash chain whose head the run's status holds.

A mismatch is a `Tamper`: it names the record (a readable name such as "the scorecard of
iteration 2"), never the object's key, which stays inside the customer boundary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

EVIDENCE_TAMPERED: Final = "EvidenceTampered"
QUARANTINE: Final = "quarantine/"
"""Where a tampered object is copied, under the run's (or gate's) prefix: the evidence of the
tamper is kept even if the writer deletes or rewrites the original."""

SCORECARD: Final = "scorecard"
RESULT: Final = "result"
LINEAGE: Final = "lineage"
REPORTED: Final = (SCORECARD, RESULT, LINEAGE)
"""The objects a Job reports the digest of in its termination message."""


def sha256(data: bytes) -> str:
    """`sha256:<hex>` of `data`, the form every digest in status takes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Tamper:
    """An object read back that does not match what the cluster holds for it."""

    record: str
    """What it is, in words: names no key."""
    why: str
    position: int | None = None
    """For the ledger: the first entry concerned (the copies kept aside start there)."""
    span: int = 1
    """How many entries from `position` are concerned: a broken link implicates two."""

    @property
    def message(self) -> str:
        return (
            f"{self.record} in the object store does not match the digest the cluster holds "
            f"for it ({self.why}); it was kept aside under the run's quarantine/ and nothing "
            "was shipped"
        )


def check(record: str, expected: str | None, data: bytes | None) -> Tamper | None:
    """Whether `data` (None: the object is missing) is what `expected` (a digest the cluster
    holds; None: none is held) says. No anchor is itself a failure: an object the cluster never
    vouched for is not evidence."""
    if expected is None:
        return Tamper(record, "no digest was recorded for it")
    if data is None:
        return Tamper(record, "it is missing")
    if sha256(data) != expected:
        return Tamper(record, "its content changed after it was recorded")
    return None


def reported_digests(message: str | None) -> dict[str, str]:
    """The digests a Job wrote in its termination message: a JSON object whose `digests` maps
    scorecard/result/lineage to `sha256:<hex>`. Anything else in the message (the contamination
    flag) and anything malformed is ignored: a missing digest is caught where it is needed."""
    try:
        parsed = json.loads(message or "{}")
    except ValueError:
        return {}
    digests = parsed.get("digests") if isinstance(parsed, dict) else None
    if not isinstance(digests, dict):
        return {}
    return {
        name: value
        for name, value in digests.items()
        if name in REPORTED and isinstance(value, str) and _is_digest(value)
    }


def _is_digest(value: str) -> bool:
    hexpart = value.removeprefix("sha256:")
    return (
        value.startswith("sha256:")
        and len(hexpart) == 64
        and all(c in "0123456789abcdef" for c in hexpart)
    )


# --- the ledger's hash chain -------------------------------------------------------------------


@dataclass(frozen=True)
class ChainHead:
    """The last ledger entry the run's status vouches for: its sequence and its digest."""

    sequence: int
    digest: str

    def wire(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "digest": self.digest}

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> ChainHead | None:
        if not value or value.get("digest") is None or value.get("sequence") is None:
            return None
        return cls(int(value["sequence"]), str(value["digest"]))


def link(head: ChainHead | None) -> str:
    """The `previous` an entry after `head` carries ("" for the first entry)."""
    return "" if head is None else head.digest


def adopt(head: ChainHead | None, sequence: int, stored: bytes) -> ChainHead | None:
    """The new head when the entry `sequence` is already stored (a replayed decision): the
    stored bytes, if they link to `head`; None if they do not (someone else wrote them)."""
    if _unlinked(stored, sequence, link(head)) is not None:
        return None
    return ChainHead(sequence, sha256(stored))


def verify_chain(entries: Sequence[bytes], head: ChainHead | None) -> Tamper | None:
    """Whether the ledger `entries` (in sequence order, from 0) form the chain that ends at
    `head`: each carries the digest of the one before, and the last one the status vouches for
    has the head's digest. Entries after the head (written, not yet recorded) must link too."""
    previous = ""
    for index, data in enumerate(entries):
        if (why := _unlinked(data, index, previous)) is not None:
            if why == UNLINKED and index > 0:
                # Either this entry's link or the entry before it was rewritten: a chain cannot
                # say which, so both are named and kept.
                pair = "they no longer link: one of them was rewritten"
                return Tamper(f"ledger entry {index - 1} or {index}", pair, index - 1, 2)
            return Tamper(f"ledger entry {index}", why, index)
        previous = sha256(data)
        if head is not None and index == head.sequence and previous != head.digest:
            why = "its digest is not the one the run's status recorded"
            return Tamper(f"ledger entry {index}", why, index)
    if head is not None and head.sequence >= len(entries):
        return Tamper(f"ledger entry {head.sequence}", "it is missing")
    return None


def _unlinked(data: bytes, sequence: int, previous: str) -> str | None:
    """Why `data` is not the ledger entry `sequence` following the digest `previous`."""
    try:
        entry = json.loads(data)
    except ValueError:
        return "it is not a ledger entry"
    if not isinstance(entry, dict) or entry.get("sequence") != sequence:
        return "its sequence is not its place in the ledger"
    if entry.get("previous", "") != previous:
        return UNLINKED
    return None


UNLINKED: Final = "it does not carry the digest of the entry before it"


def quarantine_name(name: str, data: bytes) -> str:
    """The object name a tampered copy is kept under: its original name and its own digest, so
    two different forgeries of one record are both kept."""
    return f"{QUARANTINE}{name.replace('/', '-')}-{sha256(data)[7:19]}"
