"""Where a run's artefacts live in the object store:
`s3://<bucket>/<targetPrefix>runs/<namespace>/<run>-<runKey>/`, the bucket and prefix its
ExecutionTarget names (pinned in the run's status.store when it starts, copied into its gate's
spec.store), the run key the sha256 of its namespace/UID (`run_key`, the key its Job names
carry too). So a run deleted and created again under its name starts on an empty prefix and never
sees the earlier run's ledger, scorecards or bundle, and a restarted operator, the kubectl plugin
and a reviewer with bucket access all find the same objects. Construct a layout only with
`for_run` or `for_gate`. Keys stay inside the customer boundary: they never appear on a shared
surface."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from modelsmith.api.gate import PromotionGate
    from modelsmith.api.target import ExecutionTargetSpec

_KEY_LENGTH: Final = 8


def run_key(namespace: str, uid: str) -> str:
    """8 hex digits of sha256("<namespace>/<run UID>"): what makes a run's prefix and Job names
    its own. Two runs of the same name in two namespaces (their Jobs may share an execution
    namespace), or a run deleted and created again under its name, never get each other's
    objects or Job names."""
    if not namespace or not uid:
        raise ValueError("a run key needs the run's namespace and UID")
    return hashlib.sha256(f"{namespace}/{uid}".encode()).hexdigest()[:_KEY_LENGTH]


@dataclass(frozen=True)
class StoreLocation:
    """A bucket and a key prefix ('' or ending in '/') inside it: an ExecutionTarget's store."""

    bucket: str
    prefix: str = ""

    @staticmethod
    def of_target(target: ExecutionTargetSpec | None, default_bucket: str) -> StoreLocation:
        """The location `target` names (its bucket defaulting to the operator's); the
        operator's bucket when there is no target."""
        where = None if target is None else target.object_store
        if where is None:
            return StoreLocation(default_bucket)
        return StoreLocation(where.bucket or default_bucket, where.prefix)

    @staticmethod
    def pinned(status: dict[str, Any] | None) -> StoreLocation | None:
        """The location a run's status.store pinned, None before the run pinned one."""
        store = (status or {}).get("store")
        if not isinstance(store, dict) or not store.get("bucket"):
            return None
        return StoreLocation(str(store["bucket"]), str(store.get("prefix") or ""))

    def wire(self) -> dict[str, str]:
        return {"bucket": self.bucket, "prefix": self.prefix}


@dataclass(frozen=True)
class RunLayout:
    bucket: str
    namespace: str
    run: str
    key: str
    """The run key (8 hex digits); '' only for a gate staged before runs were keyed."""
    root: str = ""
    """The target's prefix."""

    @property
    def prefix(self) -> str:
        keyed = f"{self.run}-{self.key}" if self.key else self.run
        return f"{self.root}runs/{self.namespace}/{keyed}/"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def iteration(self, n: int) -> str:
        return f"{self.prefix}iter-{n}/"

    def train_data(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}train.jsonl")

    def heldout_fingerprint(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}heldout-fingerprint.json")

    def candidate(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}candidate/")

    def adapter(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}candidate/adapter/")

    def checkpoint(self, n: int) -> str:
        """The trainer's checkpoints: inside the candidate's prefix, which the Jobs may write;
        read only by a later attempt of the same iteration's training."""
        return self.uri(f"{self.iteration(n)}candidate/checkpoint/")

    def progress(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}candidate/progress.json")

    def lineage(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}candidate/lineage.json")

    def evaluation(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}eval/")

    def scorecard(self, n: int) -> str:
        return self.uri(f"{self.iteration(n)}eval/scorecard.json")

    def ledger(self, sequence: int) -> str:
        return self.uri(f"{self.prefix}ledger/{sequence:06d}.json")

    def ledger_prefix(self) -> str:
        return self.uri(f"{self.prefix}ledger/")

    def evidence(self, name: str) -> str:
        return self.uri(f"{self.prefix}evidence/{name}")

    def pinned(self, name: str) -> str:
        """What the run pinned at its start (the intake's spec), written by the operator only
        and read back only against the digest in status.pinned."""
        return self.uri(f"{self.prefix}pinned/{name}")


def for_run(store: StoreLocation, namespace: str, run: str, uid: str) -> RunLayout:
    """The layout of the run `namespace/run` with UID `uid`, in its pinned `store`."""
    return RunLayout(store.bucket, namespace, run, run_key(namespace, uid), store.prefix)


def for_gate(gate: PromotionGate, default_bucket: str) -> RunLayout:
    """The layout of the run a gate was staged from, from the gate's own immutable spec (its
    run may be gone). A gate staged before spec.store existed has its evidence where runs were
    then kept: keyed by the run's name, in the operator's bucket."""
    store = gate.spec.store
    run = gate.spec.run_ref.name
    if store is None:
        return RunLayout(default_bucket, gate.namespace, run, "")
    return RunLayout(store.bucket, gate.namespace, run, store.run_key, store.prefix)


def benchmark_scenarios(
    bucket: str, namespace: str, benchmark: str, digest: str, root: str = ""
) -> str:
    """Every scenario of a Benchmark, criteria included, for evaluation Jobs: named by the
    digest of its content, so one object serves every run on that content and never changes.
    `root`: the target's prefix (the Jobs read only under their run's store location)."""
    return f"s3://{bucket}/{root}benchmarks/{namespace}/{benchmark}/scenarios-{digest}.jsonl"
