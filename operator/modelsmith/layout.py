"""Where a run's artefacts live in the object store. Keys derive from names, so a restarted
operator, the kubectl plugin and a reviewer with bucket access all find the same objects.
Keys stay inside the customer boundary: they never appear on a shared surface."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunLayout:
    bucket: str
    namespace: str
    run: str

    @property
    def prefix(self) -> str:
        return f"runs/{self.namespace}/{self.run}/"

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


def benchmark_scenarios(bucket: str, namespace: str, benchmark: str, digest: str) -> str:
    """Every scenario of a Benchmark, criteria included, for evaluation Jobs: named by the
    digest of its content, so one object serves every run on that content and never changes."""
    return f"s3://{bucket}/benchmarks/{namespace}/{benchmark}/scenarios-{digest}.jsonl"
