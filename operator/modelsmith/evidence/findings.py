"""What the sanitiser reports: a `Finding` names the kind of a leak and where it is, never the
leaked text, so a finding can be logged or raised without becoming a leak of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class LeakKind(StrEnum):
    """What a finding is. The value names the placeholder: `[redacted:<value>]`."""

    TEXT = "text"
    """Raw benchmark text: a prompt, input, reference or criterion, a fragment of one, or its
    distinctive words reordered."""
    PATH = "path"
    OBJECT_KEY = "object-key"
    URL = "url"
    HOST = "host"
    """Host names: under a known or internal suffix, under an unlisted domain that reads like a
    host, with a port, or named as a connection string's server."""
    NODE = "node"
    """Machine names such as `gpu-node-17` or `worker03`: they say where something ran."""
    EMAIL = "email"
    IP = "ip"
    SECRET = "secret"
    """Credentials: known token shapes, high-entropy strings, and the value of an assignment
    (`password=…`, `password is …`, `DB_PASSWORD …`)."""
    ENCODED = "encoded"
    """A URL- or base64-encoded string whose decoded form leaks."""
    RECORD_ID = "record-id"
    """Identifiers of people's records: `patient_id=…`, `customerNo: …`, `MRN=…`."""
    OPAQUE_ID = "opaque-id"
    """UIDs, long hex, ARNs, cloud resource ids and malformed `sha256:` values; a well-formed
    `sha256:<64 hex>` content digest is not one where digests are allowed."""
    WORKLOAD = "workload"
    """Job and pod names: generated pod suffixes and our own deterministic Job names."""


# When findings overlap, the longest wins; on a tie, the kind earlier here.
# Specific shapes rank before the generic high-entropy secret they also are.
PRIORITY: Final = (
    LeakKind.ENCODED,
    LeakKind.RECORD_ID,
    LeakKind.OPAQUE_ID,
    LeakKind.SECRET,
    LeakKind.TEXT,
    LeakKind.URL,
    LeakKind.EMAIL,
    LeakKind.IP,
    LeakKind.HOST,
    LeakKind.NODE,
    LeakKind.OBJECT_KEY,
    LeakKind.PATH,
    LeakKind.WORKLOAD,
)


@dataclass(frozen=True, order=True)
class Finding:
    """A leak at text[start:end]. Its string form is safe to log: kind and span only."""

    start: int
    end: int
    kind: LeakKind

    @property
    def placeholder(self) -> str:
        return placeholder(self.kind)

    def __str__(self) -> str:
        return f"{self.kind.value}[{self.start}:{self.end}]"


Detector = Callable[[str], Iterator[Finding]]

TRAILING: Final = ".,;:!?"


def placeholder(kind: LeakKind) -> str:
    return f"[redacted:{kind.value}]"


def strip_trailing(text: str, start: int, end: int) -> int:
    """Sentence punctuation after a token is not part of it."""
    while end > start and text[end - 1] in TRAILING:
        end -= 1
    return end


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """Overlapping findings become one, spanning them all, of the kind of the longest."""
    rank = {kind: i for i, kind in enumerate(PRIORITY)}
    groups: list[list[Finding]] = []
    for f in sorted(findings):
        if f.end <= f.start:
            continue
        if groups and f.start < max(g.end for g in groups[-1]):
            groups[-1].append(f)
        else:
            groups.append([f])
    return [
        Finding(
            group[0].start,
            max(f.end for f in group),
            max(group, key=lambda f: (f.end - f.start, -rank[f.kind])).kind,
        )
        for group in groups
    ]
