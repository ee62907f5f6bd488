"""Who may write what in the object store, as IAM policy documents (AWS S3, MinIO and any store
that evaluates IAM-style policies read them alike).

Two principals: the operator, which writes every run's records (`ledger/`, `evidence/`, the
iteration inputs it prepares and the benchmark snapshots), and the Jobs, which read what they
need and write only an iteration's outputs (`iter-N/candidate/` for training, `iter-N/eval/`
for evaluation). The resources are written by key suffix, `*/iter-*/candidate/*`, so they hold
for any run prefix (`runs/<namespace>/<run>/` or one keyed by the run's identity) under the
target's prefix. An explicit Deny on `*/ledger/*` and `*/evidence/*` keeps those out of reach
even where an Allow would match a crafted key (`.../ledger/iter-1/candidate/x`): in IAM an
explicit Deny wins over every Allow.

What a shared Jobs credential cannot express: one Job writing another run's or another
iteration's outputs. `job_session_policy` narrows it per Job: the session policy the operator
passes to STS AssumeRole when it mints a Job's own temporary credential (docs/security.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any, Final

VERSION: Final = "2012-10-17"

JOB_OUTPUTS: Final = ("*/iter-*/candidate/*", "*/iter-*/eval/*")
"""Key patterns (below the target prefix) the Jobs write: trainer and evaluator outputs."""

OPERATOR_ONLY: Final = ("*/ledger/*", "*/evidence/*")
"""Key patterns only the operator writes: the run's hash-chained ledger and its evidence
(bundle, promotion record)."""

STAGING: Final = ".modelsmith-staging/*"
"""Where `Store.put_atomic` / `publish_dir` stage an upload before copying it into place
(at the bucket's root). Nothing there is ever read as a record."""

WRITE_ACTIONS: Final = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
"""PutObject covers single PUTs, server-side copies onto the key and multipart uploads."""

DENIED_ON_RECORDS: Final = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
)


def _arn(bucket: str, key: str = "") -> str:
    return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"


def _statement(sid: str, effect: str, actions: tuple[str, ...], resources: list[str]) -> Any:
    return {"Sid": sid, "Effect": effect, "Action": list(actions), "Resource": resources}


def jobs_policy(bucket: str, prefix: str = "") -> dict[str, Any]:
    """The Jobs' credential: read the bucket (base models, scenarios snapshots, training
    material may sit anywhere in it), write iteration outputs under `prefix` and their own
    staging uploads, never a run's records."""
    writes = [_arn(bucket, prefix + pattern) for pattern in JOB_OUTPUTS]
    return {
        "Version": VERSION,
        "Statement": [
            *_read_and_write(bucket, "WriteIterationOutputs", writes),
            _statement(
                "NeverWriteRecords",
                "Deny",
                DENIED_ON_RECORDS,
                [_arn(bucket, pattern) for pattern in OPERATOR_ONLY],
            ),
        ],
    }


def job_session_policy(bucket: str, outputs: str) -> dict[str, Any]:
    """One Job's session policy: what `jobs_policy` allows, narrowed to writing `outputs` (a
    key prefix ending in '/': that Job's own `iter-N/candidate/` or `iter-N/eval/`) and its
    staging uploads. The store grants a session the intersection of this and the role's
    policy, so the role's Deny on records still holds."""
    return {
        "Version": VERSION,
        "Statement": _read_and_write(bucket, "WriteOwnOutputs", [_arn(bucket, outputs + "*")]),
    }


def _read_and_write(bucket: str, sid: str, writes: list[str]) -> list[dict[str, Any]]:
    """A Job's reads of the whole bucket, and writes to `writes` plus its staging uploads."""
    return [
        _statement("ListBucket", "Allow", ("s3:ListBucket",), [_arn(bucket)]),
        _statement("ReadObjects", "Allow", ("s3:GetObject",), [_arn(bucket, "*")]),
        _statement(sid, "Allow", WRITE_ACTIONS, [*writes, _arn(bucket, STAGING)]),
    ]


def operator_policy(bucket: str) -> dict[str, Any]:
    """The operator's credential: everything a run needs in its bucket, nothing outside it, and
    no say over the bucket's own configuration (versioning, Object Lock, policy)."""
    return {
        "Version": VERSION,
        "Statement": [
            _statement(
                "ListBucket",
                "Allow",
                ("s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketVersioning"),
                [_arn(bucket)],
            ),
            _statement("ReadWriteObjects", "Allow", ("s3:GetObject", *WRITE_ACTIONS),
                       [_arn(bucket, "*")]),
        ],
    }


HELP = "print the object-store IAM policy for the operator's or the Jobs' credential"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("principal", choices=("operator", "jobs"))
    parser.add_argument("--bucket", required=True)
    parser.add_argument(
        "--prefix", default="", help="the ExecutionTarget's store prefix (Jobs only): teams/ml/"
    )


def run(args: argparse.Namespace) -> int:
    policy = (
        operator_policy(args.bucket)
        if args.principal == "operator"
        else jobs_policy(args.bucket, args.prefix)
    )
    print(json.dumps(policy, indent=2))
    return 0
