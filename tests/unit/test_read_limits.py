"""Bounded reads without a store: the limits table, the kind of each object of the run layout,
the typed refusals, and a run blocked on a refused object saying which and why."""

from __future__ import annotations

import pytest
from loop_sim import Sim, config, job

from modelsmith.contract import readlimits, s3
from modelsmith.contract.layout import StoreLocation, benchmark_scenarios, for_run
from modelsmith.contract.objectstore import Store
from modelsmith.contract.readlimits import READ_LIMITS, ObjectKind, ObjectTooLarge, kind_of
from modelsmith.loop import BlockKind, JobState, Phase, Reason

LAYOUT = for_run(StoreLocation("modelsmith"), "team-a", "support-run", "a-uid")


def test_every_kind_has_one_limit_and_the_operators_reads_are_small() -> None:
    assert set(READ_LIMITS) == set(ObjectKind)
    for kind in ObjectKind:
        if kind is not ObjectKind.OBJECT:
            assert READ_LIMITS[kind] <= 4 * readlimits.MIB, kind
    assert READ_LIMITS[ObjectKind.SCENARIOS] == 1024 * 1024  # as inline and ConfigMap scenarios


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        (LAYOUT.scorecard(2), ObjectKind.SCORECARD),
        (LAYOUT.ledger(7), ObjectKind.LEDGER_ENTRY),
        (LAYOUT.evidence("bundle.json"), ObjectKind.BUNDLE),
        (LAYOUT.evidence("promotion-record.json"), ObjectKind.RECORD),
        (LAYOUT.evidence("rollback-record.json"), ObjectKind.RECORD),
        (LAYOUT.progress(1), ObjectKind.PROGRESS),
        (benchmark_scenarios("modelsmith", "team-a", "bench", "ab" * 32), ObjectKind.OBJECT),
        (LAYOUT.train_data(1), ObjectKind.OBJECT),
    ],
)
def test_the_kind_of_each_object_of_the_layout(uri: str, kind: ObjectKind) -> None:
    assert kind_of(uri) is kind


def test_refusals_name_the_kind_and_the_limit_never_the_key() -> None:
    err = ObjectTooLarge(ObjectKind.SCORECARD, 4 * readlimits.MIB, 2**30)
    assert isinstance(err, s3.ObjectStoreUnavailable)
    assert str(err) == (
        "the scorecard is 1073741824 bytes, more than the limit of 4194304 bytes for a "
        "scorecard; it was not read"
    )
    foreign = readlimits.ForeignBucket("customer-data", "modelsmith")
    assert "customer-data" in str(foreign) and "configured bucket modelsmith" in str(foreign)


def test_a_confined_store_refuses_another_bucket_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store()
    store.confine("modelsmith")

    def no_store() -> None:
        raise AssertionError("no request may be made")

    monkeypatch.setattr(store, "connection", no_store)
    monkeypatch.setattr(store, "client", no_store)
    for read in (
        lambda: store.get_bytes("s3://customer-data/benchmarks/support.yaml"),
        lambda: store.get_json_or_none("s3://customer-data/x.json"),
        lambda: store.exists("s3://customer-data/x.json"),
        lambda: store.prefix_has_objects("s3://customer-data/models/"),
        lambda: store.list_objects("s3://customer-data/models/"),
    ):
        with pytest.raises(readlimits.ForeignBucket):
            read()


def test_a_run_blocked_on_a_refused_object_says_which_and_why() -> None:
    sim = Sim(cfg=config())
    sim.baseline({"b-01", "b-02", "b-03"})
    refusal = str(ObjectTooLarge(ObjectKind.SCORECARD, 4 * readlimits.MIB, 2**30))
    running = job(sim.job_name, JobState.RUNNING)
    d = sim.step(
        sim.observe(job=running, object_store_reachable=False, object_store_refusal=refusal)
    )
    assert d.phase is Phase.BLOCKED and d.blocked_by is not None
    assert (d.blocked_by.kind, d.blocked_by.reason) == (
        BlockKind.INFRASTRUCTURE,
        Reason.OBJECT_STORE_UNAVAILABLE,
    )
    assert "more than the limit of 4194304 bytes for a scorecard" in d.blocked_by.message
    assert d.next_action.startswith("Replace the refused object")
    d = sim.step(sim.observe(job=running))
    assert (d.phase, d.reason) == (Phase.TRAINING, Reason.RESUMED)
