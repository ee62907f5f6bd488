"""Random schema-valid intakes and runs, fed to the operator on the real API server (issue 19):
whatever hypothesis draws, every object the API server stores ends, within a bound, showing
either progress or a visible verdict (a condition with a reason and a message) — never an empty
status, never silence. What admission refuses comes back with a message instead.

The draws stay off Jobs (no base model is ever uploaded), so the examples cost API calls only:
about 20 of them take well under two minutes.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsmith.api import samples
from testbed.cluster import Cluster
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

pytestmark = pytest.mark.cluster

BOUND_SECONDS = 30.0
"""How long the operator has to say something about an object it was just given."""
_SEQ = itertools.count()

names = st.sampled_from(["alice", "Alice", "bob", "carol", "dave", "erin"])
approvers = st.lists(
    st.fixed_dictionaries(
        {"users": st.lists(names, min_size=1, max_size=2, unique=True)},
        optional={"groups": st.lists(st.sampled_from(["owners", "reviewers"]), max_size=1)},
    ),
    min_size=1,
    max_size=3,
)
intakes = st.fixed_dictionaries(
    {
        "benchmark": st.sampled_from(["triage", "no-such-benchmark"]),
        "version": st.sampled_from(["1.0.0", "2.0.0"]),
        "model": st.sampled_from(
            ["s3://modelsmith/random/never-uploaded/", "s3://other-bucket/models/x/"]
        ),
        "threshold": st.floats(0, 1),
        "max_regressions": st.integers(0, 1000),
        "serving_namespace": st.sampled_from([None, "serving-nowhere"]),
        "approvers": approvers,
        "ttl": st.none() | st.integers(1, 8760),
    }
)
runs = st.fixed_dictionaries(
    {
        "intake": st.sampled_from(["own", "missing"]),
        "max_iterations": st.integers(1, 50),
        "patience": st.integers(1, 10),
        "rank": st.integers(1, 256),
        "learning_rate": st.floats(1e-6, 1.0),
        "attempts": st.integers(1, 10),
    }
)


def _intake(namespace: str, name: str, draw: dict[str, Any]) -> dict[str, Any]:
    body = samples.intake(name, namespace)
    spec = body["spec"]
    spec["benchmarkRef"] = {"name": draw["benchmark"], "version": draw["version"]}
    spec["baseModel"]["uri"] = draw["model"]
    spec["promotion"] = {
        "threshold": draw["threshold"],
        "maxRegressions": draw["max_regressions"],
        "approvers": [
            {"role": f"role-{i}", **approver} for i, approver in enumerate(draw["approvers"])
        ],
    }
    if draw["ttl"] is not None:
        spec["promotion"]["approvalTtlHours"] = draw["ttl"]
    if draw["serving_namespace"]:
        spec["servingTarget"]["namespace"] = draw["serving_namespace"]
    return body


def _run(namespace: str, name: str, intake: str, draw: dict[str, Any]) -> dict[str, Any]:
    body = samples.run(name, namespace)
    body["spec"] = {
        "intakeRef": {"name": intake if draw["intake"] == "own" else "no-such-intake"},
        "maxIterations": draw["max_iterations"],
        "plateauPatience": draw["patience"],
        "recipe": {"rank": draw["rank"], "learningRate": draw["learning_rate"]},
        "retries": {"maxAttempts": draw["attempts"]},
    }
    return body


def _said(body: dict[str, Any]) -> str | None:
    """What the object shows, once it shows something: a condition with a reason and a message
    (the run: its phase with one); None while its status is empty."""
    status = body.get("status") or {}
    if body["kind"] == "IterationRun" and not status.get("phase"):
        return None
    for cond in status.get("conditions") or []:
        shown = cond.get("status") == "True" or cond.get("message")
        if cond.get("type") in ("Ready", "Progressing", "Blocked") and cond.get("reason") and shown:
            where = status.get("phase") or cond["type"]
            return f"{where}: {cond['reason']}: {cond.get('message', '')}"
    return None


def _create(cluster: Cluster, body: dict[str, Any]) -> str | None:
    """Creates `body`; None when stored, else the refusal (which must say why)."""
    result = cluster.kubectl("create", "-f", "-", input=json.dumps(body), check=False)
    if result.returncode == 0:
        return None
    assert result.stderr.strip(), "a refusal without a message"
    return result.stderr


@pytest.fixture(scope="module")
def random_namespace(crds: Cluster, operator: OperatorProcess) -> Iterator[str]:
    name = f"t-random-inputs-{secrets.token_hex(3)}"
    crds.kubectl("create", "namespace", name, check=False)
    crds.kubectl("label", "namespace", name, "modelsmith.io/test=true", "--overwrite")
    crds.kubectl("apply", "-f", "-", input=json.dumps(samples.benchmark("triage", name, 8)))
    yield name
    crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(intake=intakes, run=runs)
def test_every_random_object_ends_visible(
    crds: Cluster, random_namespace: str, intake: dict[str, Any], run: dict[str, Any]
) -> None:
    n = next(_SEQ)
    namespace = random_namespace
    made: list[tuple[str, str]] = []
    if _create(crds, _intake(namespace, f"intake-{n}", intake)) is None:
        made.append(("modelintakes", f"intake-{n}"))
    if _create(crds, _run(namespace, f"run-{n}", f"intake-{n}", run)) is None:
        made.append(("iterationruns", f"run-{n}"))
    for plural, name in made:

        def said(plural: str = plural, name: str = name) -> str | None:
            out = crds.kubectl("get", plural, name, "-n", namespace, "-o", "json").stdout
            return _said(json.loads(out))

        verdict = wait_for(
            said,
            timeout=BOUND_SECONDS,
            interval=0.5,
            description=f"{plural}/{name} to show progress or a verdict",
        )
        assert verdict
