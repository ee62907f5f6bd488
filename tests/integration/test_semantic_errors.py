"""Semantically wrong but schema-valid setups (tests/semantic/*.yaml): the API server accepts
each, the operator refuses it with a clear reason, and nothing is lost.

For every case the test checks that
- the case's subject (its most downstream object: run, else intake, else benchmark) ends with the
  expected reason and message (Ready=False; or the run's phase with its reason),
- a Warning Event on the subject carries the same reason and message,
- the operator is alive and did not fall into a failure loop (its "reconcile of ... failed" lines
  for the case's namespace stay a handful and stop),
- nothing was lost: every object of the case still exists with generation 1 and the spec the API
  server stored at apply, and the audit log shows no write to them from anyone but kubectl (the
  operator writes status only).

All cases are applied at once, each into its own namespace, so the module costs about as long as
its slowest case. tests/semantic/README.md describes the case files' header lines.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess, bind_operator_workloads
from testbed.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "semantic"
EVALUATOR = REPO / "evaluator-image" / "modelsmith_evaluator" / "__main__.py"
NEEDS = {"evaluator": EVALUATOR}
# Which object a case is about: the most downstream one it applies.
SUBJECT_ORDER = ("IterationRun", "ModelIntake", "Benchmark")
PLURALS = {
    "Benchmark": "benchmarks",
    "ModelIntake": "modelintakes",
    "IterationRun": "iterationruns",
    "ConfigMap": "configmaps",
    "ExecutionTarget": "executiontargets",
}
# A reconcile that raises is retried every 10 s; a few failures while a case settles are fine,
# a loop that keeps failing is not.
HANDFUL = 3
LOOP_WINDOW = 21.0
MAX_SOURCE_BYTES = 1024 * 1024

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class Case:
    path: Path
    reason: str
    message: str
    phase: str | None
    blocked_kind: str | None
    needs: tuple[str, ...]
    setups: tuple[tuple[str, str], ...]
    docs: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def subject(self) -> dict[str, Any]:
        for kind in SUBJECT_ORDER:
            found = [d for d in self.docs if d["kind"] == kind]
            if found:
                return found[-1]
        raise AssertionError(f"{self.path.name} applies no Modelsmith object")

    @property
    def timeout(self) -> float:
        # Cases that run Jobs need the Job controller, retries and (for a corrupt model) the
        # evaluator loading torch; the rest settle in seconds.
        return 300.0 if self.phase in ("Blocked", "Failed") else 90.0


def _header(text: str, key: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^# {key}:(.*)$", text, re.MULTILINE)]


def load_case(path: Path) -> Case:
    text = path.read_text()
    expects = _header(text, "expect")
    assert len(expects) == 1, f"{path.name}: needs exactly one '# expect: <reason> | <message>'"
    reason, _, message = (part.strip() for part in expects[0].partition("|"))
    assert reason and message, f"{path.name}: '# expect:' needs a reason and a message"
    phase = blocked_kind = None
    phases = _header(text, "phase")
    if phases:
        match = re.fullmatch(r"(\w+)(?: \((\w+)\))?", phases[0])
        assert match, f"{path.name}: '# phase: <Phase> [(<blocked kind>)]'"
        phase, blocked_kind = match.group(1), match.group(2)
    setups = []
    for line in _header(text, "setup"):
        what, uri = line.split()
        setups.append((what, uri))
    docs = tuple(d for d in yaml.safe_load_all(text) if d)
    return Case(
        path,
        reason,
        message,
        phase,
        blocked_kind,
        tuple(_header(text, "needs")),
        tuple(setups),
        docs,
    )


CASES = [load_case(p) for p in sorted(CORPUS.glob("*.yaml"))]


def _param(case: Case) -> Any:
    missing = [n for n in case.needs if not NEEDS[n].exists()]
    marks = [pytest.mark.skip(reason=f"needs the {', '.join(missing)} image")] if missing else []
    return pytest.param(case, id=case.name, marks=marks)


def _runnable(case: Case) -> bool:
    return all(NEEDS[n].exists() for n in case.needs)


# ----- setting a case up ---------------------------------------------------------------------


def _upload(store: ObjectStore, what: str, uri: str) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3 = store.client()
    if what == "placeholder-model":
        # The intake checks only that the prefix holds files; no Job of these cases loads it.
        s3.put_object(Bucket=bucket, Key=key + "config.json", Body=b'{"model_type": "llama"}')
    elif what == "corrupt-model":
        s3.put_object(Bucket=bucket, Key=key + "model.safetensors", Body=os.urandom(64 * 1024))
        s3.put_object(Bucket=bucket, Key=key + "config.json", Body=b"{\x00garbage: [not json")
        s3.put_object(Bucket=bucket, Key=key + "tokenizer.json", Body=os.urandom(1024))
    elif what == "oversized-scenarios":
        s3.put_object(Bucket=bucket, Key=key, Body=_oversized_scenarios())
    elif what == "binary-scenarios":
        s3.put_object(Bucket=bucket, Key=key, Body=b"\xff\xfe\x00\x81" + os.urandom(2048))
    else:
        raise AssertionError(f"unknown setup {what!r}")


def _oversized_scenarios() -> bytes:
    """Valid scenarios, just too many of them: only the size is wrong."""
    scenarios = [
        {
            "id": f"ticket-{i:04d}",
            "capability": "routing",
            "risk": "low",
            "operatorLens": "frontline-agent",
            "outcomeType": "route",
            "split": "heldout" if i % 4 == 3 else "train",
            "prompt": f"Triage support ticket {i} and name its queue. " + "Context. " * 120,
            "reference": "queue: billing",
            "pass": [{"kind": "contains", "value": "queue: billing"}],
        }
        for i in range(1200)
    ]
    data = yaml.safe_dump(scenarios).encode()
    assert len(data) > MAX_SOURCE_BYTES
    return data


@dataclass
class Applied:
    namespace: str
    applied_at: float
    stored: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(kind, name) -> the object as the API server stored it right after apply."""


def _get(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", PLURALS[kind], name, "-n", namespace, "-o", "json").stdout
    body: dict[str, Any] = json.loads(out)
    return body


def _apply_case(cluster: Cluster, store: ObjectStore, case: Case) -> Applied:
    namespace = f"sem-{case.name[:40].strip('-')}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, "modelsmith.io/test=true")
    bind_operator_workloads(cluster, namespace)  # as a platform admin does for a team
    # What the quickstart asks a platform team to create first: the runner's service account
    # and the object-store Secret the intake names.
    cluster.kubectl("create", "serviceaccount", "modelsmith-runner", "-n", namespace)
    secret = store.job_secret(namespace)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(secret))
    for what, uri in case.setups:
        _upload(store, what, uri)
    applied = Applied(namespace, time.monotonic())
    cluster.kubectl("apply", "-n", namespace, "-f", str(case.path))
    for doc in case.docs:
        key = (doc["kind"], doc["metadata"]["name"])
        applied.stored[key] = _get(cluster, namespace, *key)
    return applied


@pytest.fixture(scope="module")
def applied(
    operator: OperatorProcess, crds: Cluster, object_store: ObjectStore
) -> Iterator[dict[str, Applied]]:
    """Every runnable case applied, each in a fresh namespace, before the first check."""
    result = {c.name: _apply_case(crds, object_store, c) for c in CASES if _runnable(c)}
    yield result
    for a in result.values():
        crds.kubectl("delete", "namespace", a.namespace, "--wait=false", check=False)


# ----- what the operator made of it ----------------------------------------------------------


def _condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (body.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def _verdict(case: Case, body: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) once the subject shows the case's expected refusal, else None."""
    status = body.get("status") or {}
    if body["kind"] != "IterationRun":
        ready = _condition(body, "Ready")
        if ready.get("status") != "False":
            return None
        found = (ready.get("reason", ""), ready.get("message", ""))
    else:
        if status.get("phase") != case.phase:
            return None
        if case.phase == "Blocked":
            blocked = status.get("blockedBy") or {}
            if case.blocked_kind and blocked.get("kind") != case.blocked_kind:
                return None
            if _condition(body, "Blocked").get("status") != "True":
                return None
            found = (blocked.get("reason", ""), blocked.get("message", ""))
        elif case.phase == "Failed":
            last = status.get("lastTransition") or {}
            found = (last.get("reason", ""), last.get("message", ""))
        else:
            progressing = _condition(body, "Progressing")
            found = (progressing.get("reason", ""), progressing.get("message", ""))
    return found if found[0] == case.reason and case.message in found[1] else None


def _warning_events(cluster: Cluster, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name},involvedObject.kind={kind},type=Warning",
        "-o",
        "json",
    ).stdout
    events: list[dict[str, Any]] = json.loads(out)["items"]
    return events


def _active_jobs(cluster: Cluster, namespace: str) -> list[str]:
    """Jobs in `namespace` with pods that have not finished."""
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout
    return [
        j["metadata"]["name"]
        for j in json.loads(out)["items"]
        if (j.get("status") or {}).get("active")
    ]


_FAILED_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ .*reconcile of \S+ (\S+)/\S+ failed"
)


def _failures(operator: OperatorProcess, namespace: str) -> list[datetime]:
    """When each "reconcile of ... failed" line for `namespace` was logged."""
    times = []
    for line in operator.log_path.read_text(errors="replace").splitlines():
        match = _FAILED_LINE.match(line)
        if match and match.group(2) == namespace:
            times.append(datetime.fromisoformat(match.group(1)))
    return times


def _foreign_writes(cluster: Cluster, namespace: str, objects: set[tuple[str, str]]) -> list[str]:
    """Audit entries of writes to the case's own objects by anything but kubectl (status aside:
    the operator writes status, and only status)."""
    found = []
    resources = {(PLURALS[k], n) for k, n in objects}
    with (cluster.log_dir / "audit.jsonl").open() as audit:
        for line in audit:
            if namespace not in line:
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if ref.get("namespace") != namespace or ref.get("subresource") == "status":
                continue
            if (ref.get("resource"), ref.get("name")) not in resources:
                continue
            if event["verb"] in ("create",) or event.get("userAgent", "").startswith("kubectl"):
                continue
            found.append(
                f"{event['verb']} {ref.get('resource')}/{ref.get('name')} by "
                f"{event.get('userAgent')}"
            )
    return found


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_semantic_error_is_refused_clearly(
    case: Case, applied: dict[str, Applied], crds: Cluster, operator: OperatorProcess
) -> None:
    cluster = crds
    a = applied[case.name]
    kind, name = case.subject["kind"], case.subject["metadata"]["name"]
    remaining = case.timeout - (time.monotonic() - a.applied_at)
    try:
        reason, message = wait_for(
            lambda: _verdict(case, _get(cluster, a.namespace, kind, name)),
            timeout=max(remaining, 10.0),
            interval=1.0,
            description=f"{kind} {name} to show {case.reason}: {case.message!r}",
        )
    except TimeoutError:
        status = _get(cluster, a.namespace, kind, name).get("status")
        raise AssertionError(
            f"{kind} {name} never showed {case.reason}: {case.message!r}; its status:\n"
            + json.dumps(status, indent=1)[:4000]
            + "\n"
            + operator.log_tail(30)
        ) from None

    def warned() -> list[dict[str, Any]]:
        return [
            e
            for e in _warning_events(cluster, a.namespace, kind, name)
            if e["reason"] == case.reason and case.message in e["message"]
        ]

    wait_for(
        warned,
        timeout=30,
        interval=1.0,
        description=f"a Warning Event {case.reason} on {kind} {name}",
    )

    if case.phase in ("Blocked", "Failed"):
        # A run that gave up holds no Job that still has pods: a container that never starts
        # would otherwise keep its GPUs until the Job's deadline (hours on a real cluster).
        wait_for(
            lambda: not _active_jobs(cluster, a.namespace),
            timeout=60,
            interval=1.0,
            description=f"no active Job left in {a.namespace}",
        )

    # The operator survived the input and is not stuck failing on it.
    assert operator.proc is not None and operator.proc.poll() is None, operator.log_tail()
    failures = _failures(operator, a.namespace)
    if failures:
        settled = len(failures)
        began = time.monotonic()
        wait_for(
            lambda: (
                time.monotonic() - began >= LOOP_WINDOW
                or len(_failures(operator, a.namespace)) > settled
            ),
            timeout=LOOP_WINDOW + 5,
            interval=1.0,
            description="a quiet spell",
        )
        again = _failures(operator, a.namespace)
        assert len(again) <= HANDFUL and len(again) == settled, (
            f"reconciles of {a.namespace} keep failing ({len(again)} so far):\n"
            + operator.log_tail(40)
        )

    # Nothing lost: the objects are as the API server stored them at apply.
    for (k, n), stored in a.stored.items():
        now = _get(cluster, a.namespace, k, n)
        assert now["metadata"]["uid"] == stored["metadata"]["uid"], f"{k} {n} was recreated"
        if k in ("Benchmark", "ModelIntake", "IterationRun"):
            assert now["metadata"].get("generation") == 1, f"{k} {n} spec changed"
            assert now["spec"] == stored["spec"], f"{k} {n} spec changed"
            assert not now["metadata"].get("finalizers"), f"{k} {n} got finalizers"
        else:
            assert now.get("data") == stored.get("data"), f"{k} {n} data changed"
    assert _foreign_writes(cluster, a.namespace, set(a.stored)) == []
    REFUSED[case.name] = f"{reason}: {message}"


REFUSED: dict[str, str] = {}
"""Case -> what the subject said, for the summary."""


def test_summary() -> None:
    """Prints the corpus figure for the reliability table in docs/benchmarks.md (run with -s)."""
    runnable = [c for c in CASES if _runnable(c)]
    lines = [f"  {name}: {said}" for name, said in sorted(REFUSED.items())]
    print("\n" + "\n".join(lines))
    print(
        f"bad inputs refused with a clear message: {len(REFUSED)}/{len(runnable)} "
        f"({len(CASES) - len(runnable)} waiting for an image)"
    )


def test_a_corrected_document_is_picked_up(
    operator: OperatorProcess, crds: Cluster, namespace: str
) -> None:
    """Refusing is not the end: fixing the ConfigMap in place makes the Benchmark Ready without
    touching the Benchmark (no watch sees a ConfigMap change; the operator looks again)."""
    case = load_case(CORPUS / "benchmark-configmap-not-yaml.yaml")
    crds.kubectl("apply", "-n", namespace, "-f", str(case.path))
    wait_for(
        lambda: _verdict(case, _get(crds, namespace, "Benchmark", "triage")),
        timeout=60,
        interval=1.0,
        description="the Benchmark refuses the document",
    )
    good = load_case(CORPUS / "benchmark-configmap-key-missing.yaml")
    fixed = next(d for d in good.docs if d["kind"] == "ConfigMap")
    fixed["data"] = {"scenarios.yaml": fixed["data"]["scenarios.yml"]}
    fixed["metadata"]["namespace"] = namespace
    crds.kubectl("apply", "-f", "-", input=json.dumps(fixed))
    body = wait_for(
        lambda: (
            (b := _get(crds, namespace, "Benchmark", "triage"))
            and _condition(b, "Ready").get("status") == "True"
            and b
        ),
        timeout=90,
        interval=1.0,
        description="the Benchmark Ready once its ConfigMap is fixed",
    )
    assert body["status"]["scenarioCount"] == 4
    assert body["metadata"]["generation"] == 1


def test_every_case_names_its_mistake() -> None:
    """The corpus stays meaningful: one expectation per case, named for what it breaks."""
    assert len(CASES) >= 20
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names)
    for case in CASES:
        assert case.name.split("-")[0] in ("benchmark", "intake", "run"), case.name
        assert case.subject["kind"] in SUBJECT_ORDER
        assert case.path.read_text().startswith("# Semantic error:"), case.name
        if case.subject["kind"] == "IterationRun":
            assert case.phase in ("Pending", "Blocked", "Failed"), case.name
