"""The CRDs on a real API server: they install, the examples apply, `kubectl explain` documents
them, every manifest in tests/invalid is refused with its expected message, and the
immutability rules hold (spec fields and the write-once promotion record)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from modelsmith.api import samples
from modelsmith.api.kinds import ALL_KINDS
from testbed.cluster import Cluster
from testbed.waiting import wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
EXAMPLES = REPO / "examples" / "quickstart"
INVALID = sorted((REPO / "tests" / "invalid").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)


def _in_namespace(manifest: dict[str, Any], namespace: str) -> str:
    manifest = dict(manifest)
    manifest["metadata"] = {**manifest["metadata"], "namespace": namespace}
    return yaml.safe_dump(manifest, sort_keys=False)


def _create(cluster: Cluster, manifest: dict[str, Any], namespace: str) -> None:
    cluster.kubectl("create", "-f", "-", input=_in_namespace(manifest, namespace))


def test_crds_install_with_names_and_columns(crds: Cluster) -> None:
    resources = crds.kubectl("api-resources", "--api-group", "modelsmith.io", "-o", "wide").stdout
    for kind in ALL_KINDS:
        line = next(row for row in resources.splitlines() if row.startswith(kind.plural + " "))
        assert kind.short_name in line.split(), line
        assert "modelsmith" in line, line


def test_examples_apply(crds: Cluster, namespace: str) -> None:
    names = ["serving-pointer.yaml", "intake.yaml", "run.yaml"]
    if (EXAMPLES / "benchmark.yaml").exists():
        names.insert(0, "benchmark.yaml")
    for name in names:
        for manifest in yaml.safe_load_all((EXAMPLES / name).read_text()):
            if manifest["kind"] == "IterationRun":  # as the quickstart adds it: who applies it
                manifest["metadata"]["annotations"] = {"modelsmith.io/requested-by": "admin"}
            result = crds.kubectl(
                "apply",
                "--dry-run=server",
                "-f",
                "-",
                input=_in_namespace(manifest, namespace),
                check=False,
            )
            assert result.returncode == 0, f"{name}: {result.stderr}"


def test_a_sharded_recipe_with_checkpoints_is_admitted(crds: Cluster, namespace: str) -> None:
    manifest = samples.run()
    manifest["spec"]["recipe"] = {"sharding": "fsdp", "checkpointEverySteps": 10}
    result = crds.kubectl(
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        input=_in_namespace(manifest, namespace),
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_get_modelsmith_lists_all_four_kinds(crds: Cluster, namespace: str) -> None:
    for manifest in (samples.benchmark(), samples.intake(), samples.run(), samples.gate()):
        _create(crds, manifest, namespace)
    listed = crds.kubectl("get", "modelsmith", "-n", namespace, "-o", "name").stdout.split()
    # The category also lists the cluster-scoped admin kinds (ExecutionTargets), whichever exist.
    cluster_scoped = {f"{k.singular}.modelsmith.io" for k in ALL_KINDS if not k.namespaced}
    listed = [n for n in listed if n.split("/")[0] not in cluster_scoped]
    assert sorted(listed) == sorted(
        [
            "benchmark.modelsmith.io/support-triage",
            "modelintake.modelsmith.io/support-triage",
            "iterationrun.modelsmith.io/support-triage-run-1",
            "promotiongate.modelsmith.io/support-triage-run-1-iter-3",
        ]
    )
    header = crds.kubectl("get", "irun", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "ITERATION", "SCORE", "HELDOUT", "TARGET", "BLOCKED", "AGE"]
    wide = crds.kubectl("get", "irun", "-n", namespace, "-o", "wide").stdout.splitlines()[0]
    assert "NEXT" in wide.split()
    intake = crds.kubectl("get", "intake", "-n", namespace).stdout
    assert "tiny-support-base" in intake and "0.6" in intake
    gate = crds.kubectl("get", "gate", "-n", namespace).stdout.splitlines()[0].split()
    assert gate == ["NAME", "STATUS", "APPROVALS", "DECISION", "CANDIDATE", "AGE"]
    # The API server applied the spec defaults the Python models declare.
    run = json.loads(crds.kubectl("get", "irun", "-n", namespace, "-o", "json").stdout)
    spec = run["items"][0]["spec"]
    assert spec["maxIterations"] == 5 and spec["recipe"]["rank"] == 8
    assert spec["clusterDimensions"] == ["capability", "risk"]


def test_explain_documents_the_recipe(crds: Cluster) -> None:
    def explained() -> str:
        out = crds.kubectl("explain", "irun.spec.recipe", check=False)
        return out.stdout if out.returncode == 0 and "failingWeight" in out.stdout else ""

    text = wait_for(explained, timeout=60, description="kubectl explain irun.spec.recipe")
    assert "The starting training recipe" in text
    assert "Sampling weight of failing training scenarios" in text
    assert "enum: lora, full" in text


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_is_refused(crds: Cluster, namespace: str, path: Path) -> None:
    text = path.read_text()
    match = EXPECT.search(text)
    assert match, f"{path.name} has no '# expect:' line"
    result = crds.kubectl("apply", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode != 0, f"{path.name} was accepted"
    assert match.group(1) in result.stderr, result.stderr


# --- immutability ------------------------------------------------------------------------------

FULL_DIGEST = "sha256:" + "a" * 64

IMMUTABLE_EDITS = [
    pytest.param(
        "benchmark/support-triage",
        "merge",
        {"spec": {"version": "1.0.1"}},
        'spec.version: Invalid value: "string": version is immutable',
        id="benchmark-version",
    ),
    pytest.param(
        "benchmark/support-triage",
        "json",
        [{"op": "replace", "path": "/spec/scenarios/0/prompt", "value": "changed"}],
        'spec.scenarios: Invalid value: "array": scenarios are immutable',
        id="benchmark-scenarios",
    ),
    pytest.param(
        "benchmark/support-triage",
        "json",
        [
            {"op": "remove", "path": "/spec/scenarios"},
            {"op": "add", "path": "/spec/scenariosFrom", "value": {"s3": {"uri": "s3://bench/x"}}},
        ],
        "the scenario source cannot change",
        id="benchmark-scenario-source",
    ),
    pytest.param(
        "modelintake/support-triage",
        "merge",
        {"spec": {"baseModel": {"label": "other-base"}}},
        'spec.baseModel: Invalid value: "object": baseModel is immutable',
        id="intake-base-model",
    ),
    pytest.param(
        "modelintake/support-triage",
        "merge",
        {"spec": {"benchmarkRef": {"version": "2.0.0"}}},
        'spec.benchmarkRef: Invalid value: "object": benchmarkRef is immutable',
        id="intake-benchmark-ref",
    ),
    pytest.param(
        "iterationrun/support-triage-run-1",
        "merge",
        {"spec": {"intakeRef": {"name": "another-intake"}}},
        "intakeRef is immutable",
        id="run-intake-ref",
    ),
    pytest.param(
        "promotiongate/support-triage-run-1-iter-3",
        "merge",
        {"spec": {"candidate": {"iteration": 4}}},
        'spec.candidate: Invalid value: "object": candidate is immutable',
        id="gate-candidate",
    ),
    pytest.param(
        "promotiongate/support-triage-run-1-iter-3",
        "merge",
        {"spec": {"evidence": {"digest": FULL_DIGEST}}},
        'spec.evidence.digest: Invalid value: "string": evidence digest is immutable',
        id="gate-evidence-digest",
    ),
    pytest.param(
        "promotiongate/support-triage-run-1-iter-3",
        "merge",
        {"spec": {"evidence": {"score": 0.99}}},
        "evidence fields cannot change while the digest stays the same",
        id="gate-evidence-fields",
    ),
    pytest.param(
        "promotiongate/support-triage-run-1-iter-3",
        "json",
        [{"op": "remove", "path": "/spec/approvers/1"}],
        "approvers are immutable",
        id="gate-approvers",
    ),
    pytest.param(
        "promotiongate/support-triage-run-1-iter-3",
        "merge",
        {"spec": {"store": {"bucket": "elsewhere", "runKey": "0a1b2c3d"}}},
        "and store cannot be added or removed",
        id="gate-store-added",
    ),
]


@pytest.fixture
def objects(crds: Cluster, namespace: str) -> str:
    for manifest in (samples.benchmark(), samples.intake(), samples.run(), samples.gate()):
        _create(crds, manifest, namespace)
    return namespace


@pytest.mark.parametrize(("target", "patch_type", "patch", "expected"), IMMUTABLE_EDITS)
def test_immutable_field_edit_is_refused(
    crds: Cluster, objects: str, target: str, patch_type: str, patch: Any, expected: str
) -> None:
    result = crds.kubectl(
        "patch", "-n", objects, target, "--type", patch_type, "-p", json.dumps(patch), check=False
    )
    assert result.returncode != 0, f"{target} accepted {patch}"
    assert expected in result.stderr, result.stderr


def test_mutable_fields_still_change(crds: Cluster, objects: str) -> None:
    for target, patch in [
        ("benchmark/support-triage", {"spec": {"owner": "new-owner"}}),
        ("modelintake/support-triage", {"spec": {"promotion": {"threshold": 0.65}}}),
        ("iterationrun/support-triage-run-1", {"spec": {"suspend": True}}),
    ]:
        crds.kubectl("patch", "-n", objects, target, "--type", "merge", "-p", json.dumps(patch))


def _patch_status(
    cluster: Cluster, namespace: str, patch_type: str, patch: Any
) -> CompletedProcess[str]:
    return cluster.kubectl(
        "patch",
        "-n",
        namespace,
        "promotiongate/support-triage-run-1-iter-3",
        "--subresource",
        "status",
        "--type",
        patch_type,
        "-p",
        json.dumps(patch),
        check=False,
    )


def test_promotion_record_is_write_once(crds: Cluster, objects: str) -> None:
    record = samples.promotion_record()
    first = _patch_status(
        crds,
        objects,
        "merge",
        {"status": {"state": "Promoted", "decision": "Promote", "promotionRecord": record}},
    )
    assert first.returncode == 0, first.stderr

    refusals = [
        ("merge", {"status": {"promotionRecord": {"time": "2030-01-01T00:00:00Z"}}}),
        ("merge", {"status": {"promotionRecord": None}}),
        ("json", [{"op": "remove", "path": "/status"}]),
    ]
    for patch_type, patch in refusals:
        result = _patch_status(crds, objects, patch_type, patch)
        assert result.returncode != 0, f"accepted {patch}"
        assert "status.promotionRecord" in result.stderr, result.stderr
        assert "promotionRecord is write-once" in result.stderr, result.stderr

    # Other status fields still move, and the record survives them.
    ok = _patch_status(crds, objects, "merge", {"status": {"approvalsSummary": "2/2"}})
    assert ok.returncode == 0, ok.stderr
    demoted = _patch_status(crds, objects, "merge", {"status": {"state": "Pending"}})
    assert "a Promoted gate can only stay Promoted or become RolledBack" in demoted.stderr
    stored = json.loads(
        crds.kubectl(
            "get", "-n", objects, "promotiongate/support-triage-run-1-iter-3", "-o", "json"
        ).stdout
    )
    assert stored["status"]["promotionRecord"] == record
