"""moto's S3 server with request signing and IAM policies enforced, for the test bed.

    python hack/testbed/s3server.py --port PORT --config principals.json

The config names the bucket, the region and each principal: a fixed access key and secret (so a
restarted server accepts the same credentials every client already holds) and an IAM policy
document as AWS reads it (`modelsmith.storepolicy`). Users, keys, policies and the versioned
bucket are made in this process before the server answers, so no request is ever served
without authentication (moto's INITIAL_NO_AUTH_ACTION_COUNT is 0 from the start).

moto authorises S3 requests by API operation name where AWS uses IAM action names: a copy is
`s3:CopyObject` and a multipart upload `s3:CreateMultipartUpload` / `s3:UploadPart` /
`s3:CompleteMultipartUpload` (AWS: all `s3:PutObject`), a listing `s3:ListObjectsV2` (AWS:
`s3:ListBucket`), a HEAD `s3:HeadObject` (AWS: `s3:GetObject`). `for_moto` adds those names
beside each IAM action, for the same resources, so the policy a test proves is the policy the
docs give for AWS. moto checks a multi-object delete (`s3:DeleteObjects`) against the bucket
only, so it is granted only where `s3:DeleteObject` covers the whole bucket."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
"""moto's default account: requests whose key it cannot place are served from it."""

MOTO_NAMES: dict[str, tuple[str, ...]] = {
    "s3:GetObject": ("s3:HeadObject",),
    "s3:PutObject": (
        "s3:CopyObject",
        "s3:CreateMultipartUpload",
        "s3:UploadPart",
        "s3:UploadPartCopy",
        "s3:CompleteMultipartUpload",
    ),
    "s3:ListBucket": ("s3:ListObjects", "s3:ListObjectsV2", "s3:HeadBucket"),
    "s3:ListBucketMultipartUploads": ("s3:ListMultipartUploads",),
    "s3:ListMultipartUploadParts": ("s3:ListParts",),
    "s3:ListBucketVersions": ("s3:ListObjectVersions",),
}


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _bulk_delete(statement: dict[str, Any]) -> dict[str, Any] | None:
    """`s3:DeleteObjects` on the bucket, for an Allow of `s3:DeleteObject` on all its keys."""
    if statement["Effect"] != "Allow" or "s3:DeleteObject" not in _listed(statement["Action"]):
        return None
    whole = [r.removesuffix("/*") for r in _listed(statement["Resource"])
             if r.startswith("arn:aws:s3:::") and r.endswith("/*") and r.count("/") == 1]
    if not whole:
        return None
    return {"Effect": "Allow", "Action": ["s3:DeleteObjects"], "Resource": whole}


def for_moto(policy: dict[str, Any]) -> dict[str, Any]:
    """The same policy with moto's operation names added to each statement's IAM actions."""
    statements = []
    for statement in policy["Statement"]:
        actions = _listed(statement["Action"])
        extra = [name for action in actions for name in MOTO_NAMES.get(action, ())]
        statements.append({**statement, "Action": actions + extra})
        bulk = _bulk_delete(statement)
        if bulk is not None:
            statements.append(bulk)
    return {**policy, "Statement": statements}


def _configure(config: dict[str, Any]) -> None:
    from moto.iam.models import iam_backends
    from moto.s3.models import s3_backends

    iam = iam_backends[ACCOUNT]["aws"]
    for name, principal in config["principals"].items():
        iam.create_user(config["region"], name)
        key = iam.create_access_key(name)
        del iam.access_keys[key.physical_resource_id]
        key.access_key_id = principal["access_key"]
        key.secret_access_key = principal["secret_key"]
        iam.access_keys[key.physical_resource_id] = key
        iam.put_user_policy(name, "modelsmith", json.dumps(for_moto(principal["policy"])))
    s3 = s3_backends[ACCOUNT]["aws"]
    s3.create_bucket(config["bucket"], config["region"])
    if config.get("versioning"):
        s3.put_bucket_versioning(config["bucket"], "Enabled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    # -P: this folder (testbed/operator.py shadows the standard library) is not on sys.path.
    # Read by moto's settings when it is first imported: every request is authorised.
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    _configure(json.loads(args.config.read_text()))
    from moto.server import main as serve

    serve(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main()
