"""ModelIntake: what is specialised, where it runs, and against which gate."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from modelsmith.api.approvers import Approver, approvers_field, require_unique_roles
from modelsmith.api.base import ApiModel
from modelsmith.api.benchmark import ConfigMapKeyReference, S3Source
from modelsmith.api.common import (
    Condition,
    Digest,
    DnsLabel,
    KubernetesObject,
    Label,
    Message,
    ObjectName,
    RollbackContract,
    ServingTarget,
    cel,
    conditions_field,
    immutable,
    observed_generation_field,
    validations,
)
from modelsmith.api.resource import AGE_COLUMN, PrinterColumn, ResourceKind, ready_column
from modelsmith.contract.jobspec import HF_MODEL_URI, S3_URI


class BenchmarkReference(ApiModel):
    """A Benchmark in the same namespace, pinned to a version."""

    name: ObjectName = Field(description="The Benchmark's name.")
    version: str = Field(
        min_length=1,
        max_length=63,
        description="The version the Benchmark must have; any other version makes the intake "
        "not Ready.",
    )


class PromptFormat(StrEnum):
    AUTO = "auto"
    PLAIN = "plain"
    CHAT = "chat"


S3_URI_MESSAGE = (
    "an s3:// base model URI reads s3://<bucket>/<prefix>/: a bucket name of 3 to 63 lower-case "
    "letters, digits, '.' or '-', then the prefix holding the model's files"
)
HF_URI_MESSAGE = (
    "an hf:// base model URI reads hf://<org>/<name>: two non-empty parts of letters, digits, "
    "'-', '_' or '.', each starting with a letter or digit (pin a revision in baseModel.revision)"
)
NO_DOTDOT = "a base model URI may not contain '..'"
URI_RULES: Final = (("s3://", S3_URI, S3_URI_MESSAGE), ("hf://", HF_MODEL_URI, HF_URI_MESSAGE))


REVISION_ONLY_ON_HUB = (
    "baseModel.revision pins a hub revision: it is allowed only with an hf:// URI (an s3:// "
    "prefix is pinned by the digest of its weights, which every run records)"
)
REVISION_PATTERN: Final = r"^[A-Za-z0-9][-A-Za-z0-9_./]*$"
REVISION_MESSAGE = (
    "baseModel.revision is a hub commit, tag or branch: letters, digits, '-', '_', '.' or '/', "
    "starting with a letter or digit, without '..'"
)


class BaseModelSource(ApiModel):
    """The model being specialised."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.revision) || self.uri.startsWith('hf://')",
                REVISION_ONLY_ON_HUB,
                field_path=".revision",
            )
        )
    )

    uri: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^(s3|hf)://",
        description="Where the weights are: s3://<bucket>/<prefix>/ or hf://<org>/<name> (only "
        "where the cluster may reach the hub). Never shown on shared surfaces; `label` is.",
        json_schema_extra=validations(
            *(
                cel(f"!self.startsWith('{scheme}') || self.matches('{pattern}')", message)
                for scheme, pattern, message in URI_RULES
            ),
            cel("!self.contains('..')", NO_DOTDOT),
        ),
    )
    label: Label = Field(
        description="A readable name for the base model, used in status, lineage and evidence."
    )
    revision: str | None = Field(
        default=None,
        max_length=128,
        description="The hub revision to load (a commit, tag or branch; hf:// only): the "
        "trainer and evaluator load exactly this revision, and each candidate's lineage records "
        "the commit it resolved to and the digest of the weights. Absent: the hub's default "
        "branch as it is at each Job's start.",
        json_schema_extra=validations(
            cel(f"self.matches('{REVISION_PATTERN}')", REVISION_MESSAGE),
            cel("!self.contains('..')", REVISION_MESSAGE),
        ),
    )
    prompt_format: PromptFormat = Field(
        default=PromptFormat.AUTO,
        description="How scenario prompts reach the model, in training and evaluation alike: "
        "`plain` text, or `chat`: the user's turn of the model's own chat template, answered in "
        "the assistant's turn. `auto` is chat when the model has a chat template (an "
        "instruction-tuned model answers best in the format it was tuned in), plain otherwise.",
    )

    @model_validator(mode="after")
    def _revision_on_the_hub(self) -> BaseModelSource:
        # The CRD's rules, so the models refuse what the API server does.
        if self.revision is not None:
            if not self.uri.startswith("hf://"):
                raise ValueError(REVISION_ONLY_ON_HUB)
            if not re.match(REVISION_PATTERN, self.revision) or ".." in self.revision:
                raise ValueError(REVISION_MESSAGE)
        return self

    def job_uri(self) -> str:
        """The URI the Jobs load: a hub model at its pinned revision (`hf://org/name@rev`)."""
        return f"{self.uri}@{self.revision}" if self.revision else self.uri

    @field_validator("uri")
    @classmethod
    def _uri_names_a_model(cls, uri: str) -> str:
        # The CRD's rules (URI_RULES, NO_DOTDOT), so the models refuse what the API server does.
        for scheme, pattern, message in URI_RULES:
            if uri.startswith(scheme) and not re.match(pattern, uri):
                raise ValueError(message)
        if ".." in uri:
            raise ValueError(NO_DOTDOT)
        return uri


class ExecutionTargetReference(ApiModel):
    """The ExecutionTarget (cluster-scoped, written by a platform admin) the Jobs run on. The
    intake may narrow it (fewer GPUs, fewer nodes), never widen it."""

    name: ObjectName = Field(description="The ExecutionTarget's name.")
    gpu_count: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="GPUs per training Job, at most the target's maxGpus (0 runs on the CPU); "
        "absent: the target's maxGpus.",
    )
    node_count: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Nodes a training step spans, at most the target's maxTrainingNodes "
        "(each with gpuCount GPUs); absent: the target's maxTrainingNodes.",
    )


class PromotionPolicy(ApiModel):
    """When a candidate may be staged for promotion, and who must approve it."""

    threshold: float = Field(
        ge=0,
        le=1,
        description="Overall score (0..1) a candidate must reach to be staged for promotion.",
    )
    min_improvement: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Smallest score gain over the previous accepted candidate for an iteration "
        "to count as an improvement.",
    )
    max_regressions: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Scenarios that passed before and may fail now without rejecting a candidate.",
    )
    approvers: list[Approver] = approvers_field(
        "The approver chain, in sign-off order (1 to 8 roles with unique names)."
    )
    approval_ttl_hours: int | None = Field(
        default=None,
        ge=1,
        le=8760,
        description="Approvals older than this expire (governance block); absent: never.",
    )

    @model_validator(mode="after")
    def _unique_roles(self) -> PromotionPolicy:
        require_unique_roles(self.approvers)
        return self


ONE_TRAINING_DATA_KIND = "trainingData needs exactly one of configMapRef or s3"


class TrainingDataSource(ApiModel):
    """Training material beside the benchmark's train split: JSON Lines, one record a line,
    `{"prompt": ..., "answer": ...}` or `{"inputs": {...}, "answer": ...}` (with the Benchmark's
    prompt when it has no prompt of its own), optionally with the Benchmark's dimensions
    (`capability`, `risk`, `operatorLens`, `outcomeType`) so failure-cluster up-weighting
    reaches it. Each run pins the content's digest when it first trains; the trainer checks it
    against the held-out fingerprints like the train split."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.configMapRef) != has(self.s3)", ONE_TRAINING_DATA_KIND)
        )
    )

    config_map_ref: ConfigMapKeyReference | None = Field(
        default=None, description="A ConfigMap key holding the records."
    )
    s3: S3Source | None = Field(
        default=None,
        description="An object holding the records, in the ExecutionTarget's bucket.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> TrainingDataSource:
        if (self.config_map_ref is None) == (self.s3 is None):
            raise ValueError(ONE_TRAINING_DATA_KIND)
        return self


class ModelIntakeSpec(ApiModel):
    """What is specialised (base model against a benchmark), where it runs, where it serves
    and the gate it must pass."""

    owner: str = Field(
        min_length=1, max_length=253, description="Who answers for this specialisation."
    )
    benchmark_ref: BenchmarkReference = Field(
        description="The Benchmark (name and version) candidates are measured against. Immutable.",
        json_schema_extra=validations(
            immutable("benchmarkRef is immutable; create a new ModelIntake to change the benchmark")
        ),
    )
    base_model: BaseModelSource = Field(
        description="The model being specialised. Immutable.",
        json_schema_extra=validations(
            immutable("baseModel is immutable; create a new ModelIntake to change the base model")
        ),
    )
    execution_target_ref: ExecutionTargetReference = Field(
        description="The admin-owned ExecutionTarget the training and evaluation Jobs run on "
        "(its namespace selector must select this intake's namespace)."
    )
    serving_target: ServingTarget = Field(
        description="The serving pointer ConfigMap that promotion updates."
    )
    promotion: PromotionPolicy = Field(
        description="The threshold, improvement rules and approver chain."
    )
    rollback: RollbackContract = Field(description="The rollback contract.")
    training_data: TrainingDataSource | None = Field(
        default=None,
        description="Training material beyond the Benchmark's train split (JSON Lines of "
        "prompt or inputs and answer). Every training iteration reads it with the train split.",
    )


class ValidationCheck(ApiModel):
    """One check the operator ran on the intake."""

    check: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        description="What was checked, as a CamelCase code (BenchmarkResolved, BaseModelFound, "
        "ExecutionNamespace, ServiceAccount, ServingTarget, ObjectStoreSecret, ...).",
    )
    ok: bool = Field(description="Whether the check passed.")
    message: Message = Field(default="", description="What was found (no object keys).")


class ResolvedBenchmark(ApiModel):
    """Recorded when the intake validated."""

    name: ObjectName = Field(description="Benchmark name.")
    version: str = Field(max_length=63, description="Benchmark version.")
    digest: Digest | None = Field(default=None, description="The Benchmark's content digest.")


class ModelIntakeStatus(ApiModel):
    """What the operator resolved and validated."""

    observed_generation: int | None = observed_generation_field()
    conditions: list[Condition] = conditions_field()
    benchmark: ResolvedBenchmark | None = Field(
        default=None, description="The resolved Benchmark version and digest."
    )
    base_model_label: Label | None = Field(
        default=None, description="The base model's readable label."
    )
    execution_namespace: DnsLabel | None = Field(
        default=None, description="The namespace the Jobs run in."
    )
    execution_target: ObjectName | None = Field(
        default=None, description="The ExecutionTarget the intake was validated against."
    )
    serving_target: str | None = Field(
        default=None,
        max_length=512,
        description="The serving pointer as namespace/configmap:key.",
    )
    resolved_threshold: float | None = Field(
        default=None, ge=0, le=1, description="The promotion threshold in force."
    )
    owner: str | None = Field(default=None, max_length=253, description="The owner in force.")
    rollback_expectation: str | None = Field(
        default=None, max_length=1024, description="The rollback expectation in force."
    )
    validation: list[ValidationCheck] = Field(
        default_factory=list,
        max_length=16,
        description="Each check run on the intake and its outcome.",
    )


class ModelIntake(KubernetesObject):
    """A base model to specialise against a benchmark, with its execution and serving
    targets and promotion gate."""

    kind: Literal["ModelIntake"] = Field(default="ModelIntake", description="ModelIntake.")
    spec: ModelIntakeSpec = Field(description="The intake.")
    status: ModelIntakeStatus | None = Field(default=None, description="Observed state.")


MODEL_INTAKE = ResourceKind(
    kind="ModelIntake",
    plural="modelintakes",
    short_name="intake",
    spec=ModelIntakeSpec,
    status=ModelIntakeStatus,
    description=(
        "A ModelIntake says what is specialised (a base model against a Benchmark version), "
        "where training and evaluation run, which serving pointer promotion updates, the "
        "threshold a candidate must clear and the approver chain that signs it off."
    ),
    columns=(
        PrinterColumn("Benchmark", "string", ".spec.benchmarkRef.name", "Benchmark name."),
        PrinterColumn("Base", "string", ".spec.baseModel.label", "Base model label."),
        PrinterColumn("Threshold", "number", ".spec.promotion.threshold", "Promotion threshold."),
        PrinterColumn("Owner", "string", ".spec.owner", "Owner."),
        ready_column("True when the benchmark, base model and targets validated."),
        AGE_COLUMN,
        PrinterColumn(
            "Bench-Version", "string", ".spec.benchmarkRef.version", "Benchmark version.", 1
        ),
        PrinterColumn(
            "Target", "string", ".spec.executionTargetRef.name", "ExecutionTarget name.", 1
        ),
    ),
    selectable_fields=(".spec.benchmarkRef.name",),
)
