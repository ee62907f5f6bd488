"""An S3-protocol server on loopback (moto's standalone server, `s3server.py`) with the versioned
bucket `modelsmith`, request signing and IAM policies enforced for three principals:

- the operator (`env()`): `storepolicy.operator_policy`, what the chart's operator Secret holds;
- the Jobs (`job_env()`): `storepolicy.jobs_policy`, what an ExecutionTarget's Secret holds;
  the store refuses their writes to a run's `ledger/` and `evidence/`;
- the test bed's administrator (`client()`): anything, for tests that set the scene (another
  bucket, a forged object) as someone with the store's root credentials would.

Everything that talks to it reads the standard AWS variables, as the operator and the trainer
and evaluator images do in a real cluster.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from modelsmith import storepolicy
from testbed import procs
from testbed.waiting import log_tails, register_log_dir

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "modelsmith"
REGION = "us-east-1"
ACCESS_KEY = "modelsmith-testbed"
SECRET_KEY = "modelsmith-testbed-secret"
JOB_ACCESS_KEY = "modelsmith-testbed-jobs"
JOB_SECRET_KEY = "modelsmith-testbed-jobs-secret"
ADMIN_ACCESS_KEY = "modelsmith-testbed-admin"
ADMIN_SECRET_KEY = "modelsmith-testbed-admin-secret"
NAME = "object-store"
SERVER = Path(__file__).with_name("s3server.py")
PRINCIPALS = "object-store-principals.json"


def principals(bucket: str) -> dict[str, dict[str, object]]:
    """Who the server knows, with the policy each holds. The operator's covers every bucket
    here ("*") so tests can show that the operator's own confinement, not the store, keeps it
    to its bucket; on AWS it names one bucket."""
    return {
        "operator": {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
                     "policy": storepolicy.operator_policy("*")},
        "jobs": {"access_key": JOB_ACCESS_KEY, "secret_key": JOB_SECRET_KEY,
                 "policy": storepolicy.jobs_policy(bucket)},
        "admin": {"access_key": ADMIN_ACCESS_KEY, "secret_key": ADMIN_SECRET_KEY,
                  "policy": {"Version": storepolicy.VERSION, "Statement": [
                      {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]}},
    }


class ObjectStore:
    def __init__(self, run_dir: Path, port: int) -> None:
        self.run_dir = run_dir
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.job_access_key = JOB_ACCESS_KEY
        self.job_secret_key = JOB_SECRET_KEY
        self.bucket = BUCKET
        self.region = REGION
        self.log_dir = run_dir / "logs"
        register_log_dir(self.log_dir)

    def _spawn(self) -> None:
        config = self.run_dir / PRINCIPALS
        config.write_text(json.dumps({"bucket": self.bucket, "region": self.region,
                                      "versioning": True,
                                      "principals": principals(self.bucket)}) + "\n")
        procs.spawn(
            self.run_dir, NAME,
            [sys.executable, "-P", str(SERVER), "--port", str(self.port), "--config", str(config)],
            self.log_dir / f"{NAME}.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @classmethod
    def start(cls, run_dir: Path, timeout: float = 60.0) -> ObjectStore:
        for attempt in range(3):
            store = cls(run_dir, procs.free_port())
            store._spawn()
            try:
                store._await(timeout)
                break
            except RuntimeError as e:
                store.stop()
                # Another process may have taken the port between picking and binding it.
                if "already in use" not in str(e).lower() or attempt == 2:
                    raise
        (run_dir / "object-store.json").write_text(json.dumps({"port": store.port}) + "\n")
        return store

    @classmethod
    def attach(cls, run_dir: Path) -> ObjectStore:
        state = json.loads((run_dir / "object-store.json").read_text())
        store = cls(run_dir, int(state["port"]))
        if not procs.alive(run_dir, NAME):
            raise RuntimeError(f"object store in {run_dir} is not running\n"
                               + log_tails([store.log_dir]))
        if not (run_dir / PRINCIPALS).exists():
            raise RuntimeError(f"the object store in {run_dir} was started before it enforced "
                               "who may write what: run `hack/cluster stop`, then start")
        return store

    def _await(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not procs.alive(self.run_dir, NAME):
                raise RuntimeError("object store exited while starting\n"
                                   + log_tails([self.log_dir], lines=40))
            try:
                with urllib.request.urlopen(f"{self.endpoint}/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers: an unsigned request is refused, as it should be
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("object store did not answer in time\n"
                                   + log_tails([self.log_dir], lines=40))
            time.sleep(0.2)

    def stop(self) -> None:
        procs.stop(self.run_dir, NAME)

    def restart(self, contents: Mapping[str, bytes] | None = None, timeout: float = 60.0) -> None:
        """Starts the server again (stopping it first if it runs) on the same port, so every
        client's endpoint still holds, and creates the bucket. moto keeps objects in memory
        only, so a restart empties the store: `contents` (key -> bytes, e.g. from
        `objects()` before an outage) is put back before this returns."""
        self.stop()
        procs.spawn(
            self.run_dir, NAME,
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            self.log_dir / f"{NAME}.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._await(timeout)
        s3 = self.client()
        s3.create_bucket(Bucket=self.bucket)
        for key, data in (contents or {}).items():
            s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket, key -> bytes (what `restart` can put back)."""
        s3 = self.client()
        found: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"]
                found[item["Key"]] = body.read()
        return found

    def healthy(self) -> bool:
        return procs.alive(self.run_dir, NAME)

    def env(self) -> dict[str, str]:
        """The standard variables boto3 (and any S3 client) reads, with the operator's
        credentials."""
        return self._env(self.access_key, self.secret_key)

    def job_env(self) -> dict[str, str]:
        """The same with the Jobs' credentials: what an ExecutionTarget's Secret holds."""
        return self._env(self.job_access_key, self.job_secret_key)

    def job_secret(self, namespace: str, name: str = "modelsmith-object-store") -> dict[str, Any]:
        """The Jobs' Secret for `namespace`, as an ExecutionTarget's objectStoreSecretRef names
        it."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {k: v for k, v in self.job_env().items() if k != "AWS_ENDPOINT_URL"},
        }

    def _env(self, access_key: str, secret_key: str) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, principal: str = "admin") -> S3Client:
        """A boto3 client as `principal`: "admin" (anything), "operator" or "jobs"."""
        keys = principals(self.bucket)[principal]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=str(keys["access_key"]),
            aws_secret_access_key=str(keys["secret_key"]),
            region_name=self.region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )
