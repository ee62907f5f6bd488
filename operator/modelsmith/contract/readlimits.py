"""What a process may read from the object store, and how much: reads are bounded, and the
operator's are confined to its buckets.

Every object is read with a ranged GET (`Range: bytes=0-<limit>`) whose answer says the object's
full size before any of its body is read; an object over the limit of its kind (`READ_LIMITS`,
by `ObjectKind`) is refused with `ObjectTooLarge`, naming the kind and the limit, having read
none of it; the store counts what was requested and read (`Store.connection().bodies`). A store
confined to buckets (the operator's: its configured bucket and those its ExecutionTargets name,
`Confinement`) reads and lists no other bucket: a URI naming another is refused with
`ForeignBucket` before any request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Final

from modelsmith.contract.s3 import ObjectStoreUnavailable, S3Uri, parse_uri


class ObjectKind(StrEnum):
    """What an object is, for its read limit. The value reads in messages."""

    SCENARIOS = "scenarios object"
    SCORECARD = "scorecard"
    LEDGER_ENTRY = "ledger entry"
    BUNDLE = "evidence bundle"
    RECORD = "promotion or rollback record"
    PROGRESS = "training progress report"
    TRAINING_DATA = "training data object"
    OBJECT = "object"
    """Anything else: Job specs, training material, lineage (the images' reads)."""


KIB: Final = 1024
MIB: Final = 1024 * KIB
READ_LIMITS: Final[Mapping[ObjectKind, int]] = MappingProxyType(
    {
        # As a Benchmark's inline or ConfigMap scenarios (benchmark.sources.MAX_SOURCE_BYTES);
        # MODELSMITH_MAX_BENCHMARK_BYTES raises both, the operator passing it as `limit`.
        ObjectKind.SCENARIOS: 1 * MIB,
        # Per scenario an id, a split, four dimension values and a verdict (~250 bytes): room
        # for ten thousand scenarios and more.
        ObjectKind.SCORECARD: 4 * MIB,
        ObjectKind.LEDGER_ENTRY: 256 * KIB,
        ObjectKind.BUNDLE: 4 * MIB,
        ObjectKind.RECORD: 256 * KIB,
        ObjectKind.PROGRESS: 64 * KIB,
        # An intake's supplied training records (benchmark.trainingdata), read by the operator
        # at every training launch: ten thousand prompt/answer pairs of ~400 bytes.
        ObjectKind.TRAINING_DATA: 4 * MIB,
        ObjectKind.OBJECT: 256 * MIB,
    }
)
"""The most bytes read of one object, by kind; defined here only (docs/security.md quotes it)."""


class ObjectTooLarge(ObjectStoreUnavailable):
    """An object is over the read limit of its kind; none of its body was read. A kind of
    `ObjectStoreUnavailable`: what needs it cannot go on until a person replaces the object,
    and callers already block visibly on that (a run, a gate) rather than retry out of sight."""

    def __init__(self, kind: ObjectKind, limit: int, size: int | None) -> None:
        self.kind, self.limit, self.size = kind, limit, size
        how_big = f"{size} bytes" if size is not None else "larger than that"
        super().__init__(
            f"the {kind.value} is {how_big}, more than the limit of {limit} bytes for a "
            f"{kind.value}; it was not read"
        )


class ForeignBucket(ObjectStoreUnavailable):
    """A URI names a bucket this process may not read (see `Confinement`)."""

    def __init__(self, bucket: str, allowed: str) -> None:
        self.bucket, self.allowed = bucket, allowed
        super().__init__(
            f"the URI names the bucket {bucket}, but the operator reads only its configured "
            f"bucket {allowed} and those its ExecutionTargets name"
        )


@dataclass(frozen=True)
class Confinement:
    """The buckets a store reads and lists: `bucket` (None: any) and those `others()` gives
    when asked (asked only for a URI outside `bucket`). The operator confines its store at
    start to its configured bucket and its ExecutionTargets' buckets: a URI from a spec (a
    Benchmark's scenarios, an intake's base model) must not make it read any other bucket with
    its own credentials."""

    bucket: str | None = None
    others: Callable[[], Collection[str]] | None = None

    def readable(self, uri: str) -> S3Uri:
        """The URI parsed, if its bucket may be read (`ForeignBucket` if not)."""
        where = parse_uri(uri)
        if self.bucket is None or where.bucket == self.bucket:
            return where
        if self.others is None or where.bucket not in self.others():
            raise ForeignBucket(where.bucket, self.bucket)
        return where


def kind_of(uri: str) -> ObjectKind:
    """The kind of an object of the run layout (`layout`), by its name; OBJECT otherwise."""
    key = parse_uri(uri).key
    name = PurePosixPath(key).name
    if "/ledger/" in f"/{key}":
        return ObjectKind.LEDGER_ENTRY
    by_name = {
        "scorecard.json": ObjectKind.SCORECARD,
        "bundle.json": ObjectKind.BUNDLE,
        "promotion-record.json": ObjectKind.RECORD,
        "rollback-record.json": ObjectKind.RECORD,
        "progress.json": ObjectKind.PROGRESS,
    }
    # A Benchmark's source object is read as SCENARIOS by name of the caller; the snapshot the
    # Jobs read (layout.benchmark_scenarios) is JSON lines of it, larger than its YAML source.
    return by_name.get(name, ObjectKind.OBJECT)
