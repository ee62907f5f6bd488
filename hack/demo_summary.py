"""The summary `make demo` ends with: the promotion record, the scores, the candidate's
latency and adapter size, the serving pointer and where the evidence report is."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from demo_cluster import Api, Obj, WatchError, num, say, status_of
from modelsmith.contract import s3
from modelsmith.contract.layout import RunLayout, StoreLocation, for_run


def _candidate_figures(layout: RunLayout, iteration: Any) -> list[tuple[str, str]]:
    """Latency p50/p95 of the candidate and the base model (the evidence bundle) and the
    adapter's size beside the base model's weights (the candidate's training result)."""
    from modelsmith.contract.jobspec import TrainResult
    from modelsmith.contract.objectstore import Store
    from modelsmith.evidence.bundle import parse_bundle

    store = Store()
    rows: list[tuple[str, str]] = []
    raw = store.get_bytes_or_none(layout.evidence("bundle.json"))
    if raw is not None:
        lat = parse_bundle(raw).latency
        rows += [
            ("latency p50 / p95", f"{num(lat.p50_ms, 1)} / {num(lat.p95_ms, 1)} ms"),
            ("base model", f"{num(lat.baseline_p50_ms, 1)} / {num(lat.baseline_p95_ms, 1)} ms"),
        ]
    if isinstance(iteration, int):
        raw = store.get_bytes_or_none(
            s3.join(layout.candidate(iteration), "result.json")
        )
        if raw is not None:
            result = TrainResult.model_validate_json(raw)
            smaller = result.base_bytes / max(1, result.artefact_bytes)
            rows.append(
                (
                    "adapter size",
                    f"{result.artefact_bytes:,} B beside the base model's "
                    f"{result.base_bytes:,} B ({smaller:.0f}x smaller)",
                )
            )
    return rows or [("figures", "(not found in the store)")]


def _object_exists(bucket: str, key: str) -> bool:
    import boto3
    from botocore.exceptions import ClientError

    try:
        boto3.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def _block(title: str, pairs: Iterable[tuple[str, str]]) -> list[str]:
    rows = list(pairs)
    width = max(len(k) for k, _ in rows) + 2
    return [title, *(f"  {k + ':':<{width}}{v}" for k, v in rows)]


def cmd_summary(args: argparse.Namespace) -> int:
    api = Api.connect()
    run = api.get("iterationruns", args.namespace, args.run)
    if run is None:
        raise WatchError(f"IterationRun {args.namespace}/{args.run} not found")
    status = status_of(run)
    gate_name = status.get("gateName") or args.run
    gate = api.get("promotiongates", args.namespace, gate_name)
    # The run's own prefix (its store pinned in status, its key from its UID): a demo run
    # created again under its name starts on an empty one.
    layout = for_run(
        StoreLocation.pinned(status) or StoreLocation(args.bucket),
        args.namespace,
        args.run,
        run["metadata"]["uid"],
    )
    candidate = status.get("candidate") or {}
    out = [
        *_record_block(gate_name, status_of(gate)),
        *_scores_block(status),
        *_block(
            "Candidate (latency per decision at the evaluator's batch size; the trained adapter)",
            _candidate_figures(layout, candidate.get("iteration")),
        ),
        *_serving_block(api, gate, args.namespace),
        *_evidence_block(layout, args.have_aws),
    ]
    say("\n".join(out))
    return 0


def _record_block(gate_name: str, gate_status: Obj) -> list[str]:
    record = gate_status.get("promotionRecord") or {}
    approvals = "; ".join(
        f"{a.get('role')} by {a.get('user')} at {a.get('at')}"
        for a in record.get("approvals") or []
    )
    return _block(
        f"Promotion record (PromotionGate {gate_name}, state {gate_status.get('state')})",
        [
            ("digest", str(record.get("digest", "-"))),
            ("time", str(record.get("time", "-"))),
            ("candidate", str(record.get("candidateLabel", "-"))),
            ("evidence", str(record.get("evidenceDigest", "-"))),
            ("approvals", approvals or "-"),
        ],
    )


def _scores_block(status: Obj) -> list[str]:
    scores = status.get("scores") or {}
    candidate = status.get("candidate") or {}
    return _block(
        "Scores (share of the benchmark's scenarios passed)",
        [
            ("baseline", num(scores.get("baseline"))),
            (
                "candidate",
                f"{num(scores.get('current'))} ({candidate.get('label', '-')}, "
                f"iteration {candidate.get('iteration', '-')})",
            ),
            ("held-out", num(scores.get("heldout"))),
            ("target", f"{num(scores.get('target'))} (held-out must reach it)"),
        ],
    )


def _serving_block(api: Api, gate: Obj | None, namespace: str) -> list[str]:
    serving = ((gate or {}).get("spec") or {}).get("serving") or {}
    cm_ns = serving.get("namespace") or namespace
    cm_name = serving.get("configMapName", "-")
    key = serving.get("key", "model")
    cm = api.config_map(cm_ns, cm_name) if cm_name != "-" else None
    data = (cm or {}).get("data") or {}
    return _block(
        "Serving pointer",
        [
            ("configmap", f"{cm_ns}/{cm_name} key {key}"),
            ("value", str(data.get(key, "(not set)"))),
            ("weights", str(data.get(f"{key}.digest") or "(no digest)")),
            ("read it", f"kubectl -n {cm_ns} get cm {cm_name} -o jsonpath='{{.data.{key}}}'"),
        ],
    )


def _evidence_block(layout: RunLayout, have_aws: bool) -> list[str]:
    uri = layout.evidence("report.html")
    report_key = uri.removeprefix(f"s3://{layout.bucket}/")
    python_get = (
        f".venv/bin/python -c \"import boto3; boto3.client('s3').download_file("
        f"'{layout.bucket}', '{report_key}', 'report.html')\""
    )
    pairs = [
        ("report", uri + ("" if _object_exists(layout.bucket, report_key) else "  (NOT FOUND)")),
        ("environment", 'eval "$(hack/cluster env)"   # object store endpoint and keys'),
        ("download", python_get),
    ]
    if have_aws:
        pairs.append(("or", f'aws --endpoint-url "$AWS_ENDPOINT_URL_S3" s3 cp {uri} report.html'))
    pairs.append(("everything", layout.uri(layout.prefix)))
    return _block("Evidence", pairs)
