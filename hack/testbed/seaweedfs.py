"""SeaweedFS's S3 server (`weed mini`: master, volume, filer and S3 gateway in one process) on
loopback, for the tests of per-Job store credentials. moto (`objectstore`, every other test's
store) accepts STS AssumeRole with a session policy but authorises the session with the role's
policies alone; SeaweedFS grants a session the intersection of both, as AWS and MinIO do.

Built from its Go module by `hack/controlplane/build.sh seaweedfs` (cached like the control
plane). It knows:
- the operator (`env()`): a static identity that may read and write the bucket and assume the
  Jobs' role, as the operator's credential does on AWS;
- the Jobs' role `ROLE_ARN`, holding `storepolicy.jobs_policy`: no static keys, only sessions
  the operator asks STS for, each narrowed by its session policy;
- the administrator (`client()`): anything, for tests that set the scene.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from modelsmith import storepolicy
from testbed import procs
from testbed.cluster import BUILD_SCRIPT
from testbed.waiting import log_tails, register_log_dir

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NAME = "seaweedfs"
BUCKET = "modelsmith"
REGION = "us-east-1"
ACCOUNT = "000000000000"
"""SeaweedFS's default account: the one its ARNs name."""
ROLE = "modelsmith-jobs"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
OPERATOR = "operator"
KEYS = {
    OPERATOR: ("modelsmith-seaweed-operator", "modelsmith-seaweed-operator-secret"),
    "admin": ("modelsmith-seaweed-admin", "modelsmith-seaweed-admin-secret"),
}
SIGNING_KEY = "bW9kZWxzbWl0aC10ZXN0YmVkLXN0cy1zaWduaW5nLWtleQ=="
"""Signs the session tokens STS issues (a test bed value, base64 of a fixed phrase)."""
# Each server `weed mini` runs: master, volume, filer, S3 (HTTP and gRPC each) and admin.
PORTS = ("master", "volume", "filer", "s3", "admin")


def weed_binary() -> Path:
    """The `weed` binary: built the first time (minutes), then cached."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT), "seaweedfs"], stdout=subprocess.PIPE,
                            stderr=None, text=True, check=True)
    return Path(result.stdout.strip().splitlines()[-1])


def config(bucket: str) -> dict[str, Any]:
    """The static identities, the STS settings and the Jobs' role, in one file that `weed mini`
    reads both as its S3 config and as its IAM config."""
    operator_arn = f"arn:aws:iam::{ACCOUNT}:user/{OPERATOR}"
    trust = {"Version": storepolicy.VERSION, "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": operator_arn}, "Action": "sts:AssumeRole"}]}
    return {
        "identities": [
            {"name": OPERATOR, "credentials": [{"accessKey": KEYS[OPERATOR][0],
                                                "secretKey": KEYS[OPERATOR][1]}],
             "actions": [f"Read:{bucket}", f"Write:{bucket}", f"List:{bucket}"]},
            {"name": "admin", "credentials": [{"accessKey": KEYS["admin"][0],
                                               "secretKey": KEYS["admin"][1]}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
        ],
        "sts": {"tokenDuration": "1h", "maxSessionLength": "12h", "issuer": "modelsmith-testbed",
                "signingKey": SIGNING_KEY},
        "policy": {"defaultEffect": "Deny"},
        "roles": [{"roleName": ROLE, "roleArn": ROLE_ARN, "trustPolicy": trust,
                   "attachedPolicies": [ROLE], "maxSessionDuration": 43200}],
        "policies": [{"name": ROLE, "document": storepolicy.jobs_policy(bucket)}],
    }


class SeaweedFS:
    def __init__(self, run_dir: Path, ports: dict[str, int]) -> None:
        self.run_dir = run_dir
        self.ports = ports
        self.endpoint = f"http://127.0.0.1:{ports['s3']}"
        self.bucket = BUCKET
        self.region = REGION
        self.log_dir = run_dir / "logs"
        register_log_dir(self.log_dir)

    @classmethod
    def start(cls, run_dir: Path, timeout: float = 120.0) -> SeaweedFS:
        weed = weed_binary()
        # gRPC listens on each HTTP port + 10000 unless told otherwise: pick both.
        server = cls(run_dir, {name: procs.free_port() for name in PORTS})
        server._spawn(weed)
        try:
            server._await(timeout)
            server.client().create_bucket(Bucket=server.bucket)
        except BaseException:
            server.stop()
            raise
        return server

    def _spawn(self, weed: Path) -> None:
        settings = self.run_dir / "seaweedfs.json"
        settings.write_text(json.dumps(config(self.bucket)) + "\n")
        data = self.run_dir / "seaweedfs-data"
        data.mkdir(exist_ok=True)
        argv = [str(weed), "mini", "-dir", str(data), "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
                "-s3.config", str(settings), "-s3.iam.config", str(settings),
                "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
                "-s3.port.lance=0", "-s3.port.iceberg=0", "-admin.port.legacy=0"]
        for name, port in self.ports.items():
            argv += [f"-{name}.port", str(port), f"-{name}.port.grpc", str(procs.free_port())]
        procs.spawn(self.run_dir, NAME, argv, self.log_dir / f"{NAME}.log", cwd=data)

    def _await(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not procs.alive(self.run_dir, NAME):
                raise RuntimeError("SeaweedFS exited while starting\n"
                                   + log_tails([self.log_dir], lines=40))
            try:
                with urllib.request.urlopen(f"{self.endpoint}/status", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("SeaweedFS did not answer in time\n"
                                   + log_tails([self.log_dir], lines=40))
            time.sleep(0.5)

    def stop(self) -> None:
        procs.stop(self.run_dir, NAME)

    def env(self) -> dict[str, str]:
        """The operator's credentials, as the standard variables boto3 reads (STS included:
        the store serves it on the same endpoint)."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": KEYS[OPERATOR][0],
            "AWS_SECRET_ACCESS_KEY": KEYS[OPERATOR][1],
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, keys: tuple[str, str] | None = None, token: str | None = None) -> S3Client:
        """A boto3 client with `keys` (and a session token), or as the administrator."""
        access, secret = keys or KEYS["admin"]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            aws_session_token=token,
            region_name=self.region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )
