"""Tampering with what a running run reads back from the store, end to end: real operator, real
trainer and evaluator Jobs (they report the digests of what they wrote in their termination
message), the store rewritten with the bucket's own credentials (as anyone holding a Job's could)
while the run trains. Each is caught: the run Blocked, kind governance, reason EvidenceTampered,
the record named (never its key), a copy kept under the run's quarantine/, no gate staged, the
serving pointer untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .quickstart import RUN, get, manifests, prepare_namespace, run_events

pytestmark = pytest.mark.slow
SERVING = "support-triage-serving"


def _keys(store: ObjectStore, prefix: str) -> list[str]:
    listed = store.client().list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _run_key(store: ObjectStore, namespace: str, suffix: str) -> str:
    """The key of the run's object ending in `suffix`, wherever the layout puts the run."""
    found = [k for k in _keys(store, f"runs/{namespace}/") if k.endswith(suffix)]
    assert len(found) == 1, found
    return found[0]


def _rewrite_scorecard(store: ObjectStore, namespace: str) -> str:
    key = _run_key(store, namespace, "/iter-0/eval/scorecard.json")
    card = json.loads(store.client().get_object(Bucket=store.bucket, Key=key)["Body"].read())
    card["overall"] = {"passed": 0, "total": card["overall"]["total"], "score": 0.0}
    store.client().put_object(Bucket=store.bucket, Key=key, Body=json.dumps(card).encode())
    return "The scorecard of iteration 0"


def _rewrite_ledger(store: ObjectStore, namespace: str) -> str:
    key = _run_key(store, namespace, "/ledger/000000.json")
    entry = json.loads(store.client().get_object(Bucket=store.bucket, Key=key)["Body"].read())
    entry["message"] = "Started by someone else."
    store.client().put_object(Bucket=store.bucket, Key=key, Body=json.dumps(entry).encode())
    return "Ledger entry 0"


def _plant_bundle(store: ObjectStore, namespace: str) -> str:
    ledger = _run_key(store, namespace, "/ledger/000000.json")
    key = ledger.removesuffix("ledger/000000.json") + "evidence/bundle.json"
    forged = {"candidate": {"label": "support-triage-run-1-iter-1", "score": 1.0}}
    store.client().put_object(Bucket=store.bucket, Key=key, Body=json.dumps(forged).encode())
    return "The evidence bundle"


@pytest.mark.parametrize(
    "tamper",
    [_rewrite_scorecard, _rewrite_ledger, _plant_bundle],
    ids=["scorecard", "ledger-entry", "planted-bundle"],
)
def test_a_rewritten_record_blocks_the_run_and_ships_nothing(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
    tamper: Callable[[ObjectStore, str], str],
) -> None:
    prepare_namespace(cluster, object_store, namespace)
    for doc in manifests(namespace, base_model):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))
    pointer_before = get(cluster, "configmap", namespace, SERVING)["data"]

    def training() -> bool:
        status = get(cluster, "irun", namespace, RUN).get("status") or {}
        assert status.get("phase") not in ("Blocked", "Failed", "Staged"), status
        return status.get("phase") == "Training"

    wait_for(training, timeout=600, interval=1, description="the run training iteration 1")
    record = tamper(object_store, namespace)

    def blocked() -> dict[str, Any] | None:
        status: dict[str, Any] = get(cluster, "irun", namespace, RUN).get("status") or {}
        assert status.get("phase") != "Staged", status
        return status if status.get("phase") == "Blocked" else None

    status = wait_for(blocked, timeout=900, interval=2, description="the run Blocked")
    blocker = status["blockedBy"]
    assert (blocker["kind"], blocker["reason"]) == ("governance", "EvidenceTampered"), blocker
    assert blocker["message"].startswith(record), blocker
    assert "s3://" not in blocker["message"] and "runs/" not in blocker["message"]
    assert [k for k in _keys(object_store, f"runs/{namespace}/") if "/quarantine/" in k]
    assert "gate" not in status
    gates = json.loads(
        cluster.kubectl("get", "promotiongates", "-n", namespace, "-o", "json").stdout
    )
    assert gates["items"] == []
    assert get(cluster, "configmap", namespace, SERVING)["data"] == pointer_before

    events = run_events(cluster, namespace)
    assert any(e["reason"] == "EvidenceTampered" and e["type"] == "Warning" for e in events)
