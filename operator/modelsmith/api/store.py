"""Where a run's artefacts live: the object-store location an ExecutionTarget names, as a run
pins it in status at start and as a PromotionGate carries it in its immutable spec.

The bucket and prefix are the platform admin's choice (the target is admin-owned); a run keeps
the location it started with (`IterationRun status.store`) whatever the target says later, and
its gate keeps it with the run key, so the gate finds its evidence without the run."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field, field_validator

from modelsmith.api.base import ApiModel
from modelsmith.api.common import cel, validations

BUCKET: Final = r"^[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]$"
"""An S3 bucket name (the same shape `jobspec.S3_URI` accepts in a URI)."""
PREFIX: Final = r"^$|^[A-Za-z0-9][-A-Za-z0-9_.]*(/[A-Za-z0-9][-A-Za-z0-9_.]*)*/$"
PREFIX_MESSAGE: Final = (
    "prefix is empty or key segments (letters, digits, '-', '_', '.') separated by and ending "
    "in '/', e.g. teams/support/"
)
NO_DOTDOT: Final = "prefix may not contain '..'"
RUN_KEY: Final = r"^[0-9a-f]{8}$"
ROLE_ARN: Final = r"^arn:[a-z-]+:iam::[0-9]*:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
"""An IAM role ARN: AWS's (`arn:aws:iam::<account>:role/<name>`) or MinIO's
(`arn:minio:iam:::role/<id>`)."""

BucketName = Annotated[str, Field(min_length=3, max_length=63, pattern=BUCKET)]
StorePrefix = Annotated[
    str,
    Field(
        max_length=256,
        pattern=PREFIX,
        json_schema_extra=validations(cel("!self.contains('..')", NO_DOTDOT)),
    ),
]


def _no_dotdot(value: str) -> str:
    if ".." in value:
        raise ValueError(NO_DOTDOT)
    return value


class ObjectStoreLocation(ApiModel):
    """An ExecutionTarget's part of the object store: its runs' artefacts go under
    `s3://<bucket>/<prefix>runs/<namespace>/<run>-<runKey>/`."""

    bucket: BucketName | None = Field(
        default=None,
        description="The bucket; absent: the operator's configured bucket (MODELSMITH_BUCKET, "
        "the chart's objectStore.bucket). The operator reads only buckets an ExecutionTarget "
        "names (or its own).",
    )
    prefix: StorePrefix = Field(
        default="",
        description="Key prefix inside the bucket: empty, or ending in '/', no '..' "
        "(e.g. teams/support/).",
    )

    job_role_arn: str | None = Field(
        default=None,
        max_length=600,
        pattern=ROLE_ARN,
        description="A role the operator assumes (STS AssumeRole) for each Job, with a session "
        "policy that lets the Job write only its own iteration's outputs; the temporary keys "
        "go in an immutable Secret made before the Job (`<job>-store-<random>`, owned by the "
        "run), read by the Job in place of objectStoreSecretRef; the Job refuses to run with "
        "any other keys. Absent: every Job of the target shares objectStoreSecretRef's "
        "credential.",
    )

    _prefix_shape = field_validator("prefix")(_no_dotdot)


class PinnedStore(ApiModel):
    """The store location a run resolved from its ExecutionTarget when it started."""

    bucket: BucketName = Field(description="The bucket the run's artefacts are in.")
    prefix: StorePrefix = Field(default="", description="The target's key prefix.")

    _prefix_shape = field_validator("prefix")(_no_dotdot)


class GateStore(PinnedStore):
    """Where a gate's evidence is: the store its run was pinned to and the run key (sha256 of
    the run's namespace/UID, the one its Job names carry), recorded when the gate was staged."""

    run_key: str = Field(
        max_length=8,
        pattern=RUN_KEY,
        description="The run's key: 8 hex digits of sha256(namespace/UID).",
    )
