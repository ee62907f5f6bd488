"""The store policies name the keys the layout really writes (tests/integration/
test_store_permissions.py proves a real S3 server enforces them)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from modelsmith import storepolicy
from modelsmith.contract import layout
from testbed.s3server import for_moto


def _key(uri: str) -> str:
    return uri.split("/", 3)[3]


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    # IAM resource wildcards: `*` matches any run of characters, slashes included.
    return any(fnmatchcase(key, pattern) for pattern in patterns)


RUN = layout.for_run(
    layout.StoreLocation("modelsmith", "teams/ml/"), "support", "support-run", "u1"
)


def test_job_outputs_are_the_layouts_iteration_outputs() -> None:
    for output in (RUN.adapter(2), RUN.progress(2), RUN.lineage(2), RUN.scorecard(3)):
        assert _matches(_key(output) + "x", storepolicy.JOB_OUTPUTS), output
    for operator_input in (RUN.train_data(2), RUN.heldout_fingerprint(2)):
        assert not _matches(_key(operator_input), storepolicy.JOB_OUTPUTS), operator_input


def test_records_are_operator_only() -> None:
    for record in (RUN.ledger(7), RUN.evidence("bundle.json"), RUN.evidence("x/y.json")):
        key = _key(record)
        assert _matches(key, storepolicy.OPERATOR_ONLY), record
        assert not _matches(key, storepolicy.JOB_OUTPUTS), record


def test_jobs_policy_denies_records_and_scopes_writes_to_the_target_prefix() -> None:
    policy = storepolicy.jobs_policy("ml-evidence", "teams/ml/")
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WriteIterationOutputs"]["Resource"] == [
        "arn:aws:s3:::ml-evidence/teams/ml/*/iter-*/candidate/*",
        "arn:aws:s3:::ml-evidence/teams/ml/*/iter-*/eval/*",
        "arn:aws:s3:::ml-evidence/.modelsmith-staging/*",
    ]
    deny = by_sid["NeverWriteRecords"]
    assert deny["Effect"] == "Deny"
    assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deny["Action"])
    assert deny["Resource"] == [
        "arn:aws:s3:::ml-evidence/*/ledger/*",
        "arn:aws:s3:::ml-evidence/*/evidence/*",
    ]


def test_moto_gets_operation_names_beside_iam_actions() -> None:
    jobs = for_moto(storepolicy.jobs_policy("modelsmith"))
    writes = next(s for s in jobs["Statement"] if s.get("Sid") == "WriteIterationOutputs")
    assert {"s3:PutObject", "s3:CopyObject", "s3:CreateMultipartUpload"} <= set(writes["Action"])
    deny = next(s for s in jobs["Statement"] if s.get("Sid") == "NeverWriteRecords")
    assert {"s3:CopyObject", "s3:UploadPart", "s3:CompleteMultipartUpload"} <= set(deny["Action"])
    # A multi-object delete is checked against the bucket only: never granted to the Jobs.
    assert not [s for s in jobs["Statement"] if "s3:DeleteObjects" in s["Action"]]
    operator = for_moto(storepolicy.operator_policy("modelsmith"))
    bulk = [s for s in operator["Statement"] if "s3:DeleteObjects" in s["Action"]]
    assert bulk == [
        {"Effect": "Allow", "Action": ["s3:DeleteObjects"], "Resource": ["arn:aws:s3:::modelsmith"]}
    ]
