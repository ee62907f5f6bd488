"""ExecutionTarget: where training and evaluation Jobs may run, written by a platform admin.

A cluster-scoped kind (like Kubeflow Trainer's ClusterTrainingRuntime or Kueue's ClusterQueue):
the namespace editors who write ModelIntakes cannot create or change one (the chart grants it
to the platform-admin role only), so the namespace, ServiceAccount, images, scheduling and
object-store credentials of every Job are the admin's choice. An intake names a target in
`spec.executionTargetRef` and may only narrow it (fewer GPUs, fewer nodes); the admission policy in
`modelsmith.targets.admission` and the operator (`modelsmith.targets.rules`) both refuse an
intake whose namespace the target's `namespaceSelector` does not select.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from modelsmith.api.base import ApiModel
from modelsmith.api.common import (
    DnsLabel,
    KubernetesObject,
    LocalObjectReference,
    cel,
    observed_generation_field,
    validations,
)
from modelsmith.api.resource import AGE_COLUMN, PrinterColumn, ResourceKind
from modelsmith.api.selector import LabelSelector
from modelsmith.api.store import ObjectStoreLocation

# An extended resource name as the device plugin advertises it: a domain prefix and a name.
EXTENDED_RESOURCE_NAME = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
# resource.Quantity's grammar (the same expression the Kubernetes OpenAPI uses).
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
IMAGE = r"^[^\s]+$"
TOLERATION_NEEDS_KEY = "key is required unless operator is Exists"


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class MultiNodeEngine(StrEnum):
    """What runs a training step that spans several nodes."""

    JOBSET = "JobSet"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(ApiModel):
    """A toleration copied into training and evaluation pods (the core/v1 Toleration fields)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.operator) || self.operator != 'Exists' || !has(self.value) "
                "|| self.value == ''",
                "value must be empty when operator is Exists",
                field_path=".value",
            ),
            cel(
                "(has(self.operator) && self.operator == 'Exists') || has(self.key)",
                TOLERATION_NEEDS_KEY,
                reason="FieldValueRequired",
                field_path=".key",
            ),
        )
    )

    key: str | None = Field(
        default=None,
        max_length=316,
        pattern=LABEL_KEY,
        description="The taint key; empty with operator Exists tolerates every taint.",
    )
    operator: TolerationOperator = Field(
        default=TolerationOperator.EQUAL, description="Equal (key and value) or Exists (key)."
    )
    value: str | None = Field(
        default=None, max_length=63, description="The taint value (operator Equal)."
    )
    effect: TaintEffect | None = Field(
        default=None,
        description="NoSchedule, PreferNoSchedule or NoExecute; absent matches all effects.",
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        description="How long a NoExecute taint is tolerated once it appears.",
    )

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> Toleration:
        if self.operator == TolerationOperator.EXISTS and self.value:
            raise ValueError("value must be empty when operator is Exists")
        if self.operator != TolerationOperator.EXISTS and not self.key:
            raise ValueError(TOLERATION_NEEDS_KEY)
        return self


class ExecutionTargetSpec(ApiModel):
    """Everything a training or evaluation Job of an intake using this target gets."""

    namespace_selector: LabelSelector = Field(
        description="Which namespaces' ModelIntakes may use this target."
    )
    job_namespace: DnsLabel | None = Field(
        default=None,
        description="Namespace the Jobs run in; absent: the intake's own namespace.",
    )
    service_account_name: DnsLabel = Field(
        description="The service account the Jobs run as (it needs no API permissions)."
    )
    trainer_image: str = Field(
        min_length=1,
        max_length=512,
        pattern=IMAGE,
        description="The trainer image (pinned by the admin; intakes choose no image).",
    )
    evaluator_image: str = Field(
        min_length=1,
        max_length=512,
        pattern=IMAGE,
        description="The evaluator image (pinned by the admin; intakes choose no image).",
    )
    gpu_resource_name: str = Field(
        default="nvidia.com/gpu",
        max_length=253,
        pattern=EXTENDED_RESOURCE_NAME,
        description="The extended resource the device plugin advertises (e.g. nvidia.com/gpu, "
        "amd.com/gpu).",
    )
    max_gpus: int = Field(
        default=1,
        ge=0,
        le=64,
        description="The most GPUs a training Job may ask for (0: CPU only, as the quickstart "
        "runs); an intake's executionTargetRef.gpuCount may ask for fewer, never more.",
    )
    max_training_nodes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="The most nodes a training step may span, each with the GPUs of "
        "one training pod; above 1 the step runs as a JobSet (multiNodeEngine) of that many "
        "pods meeting through torchrun. An intake's executionTargetRef.nodeCount may ask for "
        "fewer, never more.",
    )
    multi_node_engine: MultiNodeEngine = Field(
        default=MultiNodeEngine.JOBSET,
        description="The engine for a training step on more than one node: JobSet "
        "(jobset.x-k8s.io, installed by the platform team).",
    )
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict,
        max_length=32,
        description="Node labels the Job pods must match.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=16, description="Tolerations for the Job pods."
    )
    priority_class_name: DnsLabel | None = Field(
        default=None, description="PriorityClass for the Job pods."
    )
    kueue_queue: DnsLabel | None = Field(
        default=None,
        description="A Kueue LocalQueue; set, the Jobs carry kueue.x-k8s.io/queue-name and "
        "wait for admission instead of competing for capacity.",
    )
    cpu_request: str | None = Field(
        default=None,
        max_length=64,
        pattern=QUANTITY,
        description="CPU request per Job pod (a quantity, e.g. 2 or 500m); absent: the "
        "operator's default.",
    )
    memory_request: str | None = Field(
        default=None,
        max_length=64,
        pattern=QUANTITY,
        description="Memory request per Job pod (a quantity, e.g. 16Gi); absent: the "
        "operator's default.",
    )
    object_store_secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="A Secret in the Job namespace holding AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (optionally AWS_ENDPOINT_URL_S3 and AWS_DEFAULT_REGION), "
        "given to the Jobs as environment: the Jobs' own credential, which the store lets write "
        "iteration outputs only, never the operator's. Absent: the Secret the operator's "
        "chart names (objectStore.jobSecretName).",
    )
    object_store: ObjectStoreLocation = Field(
        default_factory=ObjectStoreLocation,
        description="Where the runs of intakes using this target keep their artefacts: "
        "s3://<bucket>/<prefix>runs/<namespace>/<run>-<runKey>/. A run pins the location when "
        "it starts; editing it later moves no running run.",
    )
    gpu_hourly_price: float = Field(
        default=0.0,
        ge=0,
        description="Price of one GPU-hour (any currency), used for cost per decision.",
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=7 * 24 * 3600,
        description="Deadline for each Job, in seconds; a Job past it counts as a failed attempt.",
    )
    backoff_limit: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Pod retries inside one Job. The operator's own retry budget "
        "(IterationRun spec.retries) creates new Jobs, so 0 is usual.",
    )


class ExecutionTargetStatus(ApiModel):
    """Reserved: the operator reads targets and records nothing on them yet."""

    observed_generation: int | None = observed_generation_field()


class ExecutionTarget(KubernetesObject):
    """An admin-owned place for Jobs to run, and the namespaces that may use it."""

    kind: Literal["ExecutionTarget"] = Field(
        default="ExecutionTarget", description="ExecutionTarget."
    )
    spec: ExecutionTargetSpec = Field(description="The target.")
    status: ExecutionTargetStatus | None = Field(default=None, description="Observed state.")


EXECUTION_TARGET = ResourceKind(
    kind="ExecutionTarget",
    plural="executiontargets",
    short_name="xtarget",
    spec=ExecutionTargetSpec,
    status=ExecutionTargetStatus,
    description=(
        "An ExecutionTarget (cluster-scoped, written by platform admins) is where training "
        "and evaluation Jobs may run: which namespaces' ModelIntakes may use it, the Job "
        "namespace, ServiceAccount, pinned images, GPU resource and maximum, the most nodes a "
        "training step may span, scheduling "
        "constraints, Kueue queue, object-store Secret, bucket and prefix, GPU-hour price and "
        "deadlines. An intake names one in spec.executionTargetRef and may only narrow it."
    ),
    columns=(
        PrinterColumn(
            "Job-Namespace",
            "string",
            ".spec.jobNamespace",
            "Where the Jobs run (empty: the intake's namespace).",
        ),
        PrinterColumn("Service-Account", "string", ".spec.serviceAccountName", "Jobs' identity."),
        PrinterColumn("Max-GPUs", "integer", ".spec.maxGpus", "Most GPUs per training Job."),
        PrinterColumn(
            "Max-Nodes", "integer", ".spec.maxTrainingNodes", "Most nodes per training step.", 1
        ),
        AGE_COLUMN,
        PrinterColumn("GPU-Resource", "string", ".spec.gpuResourceName", "GPU resource.", 1),
        PrinterColumn("Queue", "string", ".spec.kueueQueue", "Kueue LocalQueue.", 1),
        PrinterColumn("Trainer", "string", ".spec.trainerImage", "Trainer image.", 1),
        PrinterColumn("Bucket", "string", ".spec.objectStore.bucket", "Object-store bucket.", 1),
    ),
    namespaced=False,
)
