"""What the operator tells a training or evaluation Job, and what the Job reports back.

The operator writes a spec to the object store as JSON and passes its URI as `--spec`; the
image's entry point reads it back with these same models, so both sides share one definition.
Unknown fields are refused: a spec the image does not fully understand is a bad spec (exit 2),
never a silently different run.

The summaries at the bottom are the images' outputs that the operator and the evidence bundle
read: training progress, the candidate's lineage, the training result, and the termination
message. They carry numbers, labels and digests only: no text, no object keys."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelsmith.contract.recipe import Method, Recipe, Sharding

LINEAGE_SCHEMA: Final = "modelsmith.io/lineage/v1"
TRAIN_RESULT_SCHEMA: Final = "modelsmith.io/train-result/v1"
DIMENSIONS: Final = ("capability", "risk", "operatorLens", "outcomeType")
DEFAULT_OVERLAP_THRESHOLD: Final = 0.5
TERMINATION_LOG_LIMIT: Final = 4096
"""Kubernetes keeps at most 4096 bytes of a container's termination message."""

S3_URI = r"^s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]/.*$"
S3_PREFIX = r"^s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]/(.+/)?$"
HF_MODEL_URI = r"^hf://[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$"
"""What an intake may name on a hub: exactly <org>/<name> (its revision is a field of its own)."""
MODEL_URI = (
    r"^(s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]/.*"
    r"|hf://[A-Za-z0-9][-A-Za-z0-9_.]*(/[-A-Za-z0-9_.]+)?(@[-A-Za-z0-9_./]+)?)$"
)

ObjectUri = Annotated[str, Field(pattern=S3_URI, max_length=1024)]
PrefixUri = Annotated[str, Field(pattern=S3_PREFIX, max_length=1024)]
Dimension = Literal["capability", "risk", "operatorLens", "outcomeType"]
PromptFormat = Literal["auto", "plain", "chat"]
"""How prompts reach the model: as plain text, or as the user's turn of the model's own chat
template; `auto` is chat when the model has a template. Training and evaluation of one run use
the same, so a candidate is evaluated on the prompts it learned to answer."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Spec):
    """A model and its readable label. `s3://bucket/prefix/` holds a `save_pretrained`
    directory (config, safetensors weights, tokenizer); `hf://org/name[@revision]` is loaded
    from a model hub where the cluster may reach one."""

    uri: str = Field(pattern=MODEL_URI, max_length=1024)
    label: str = Field(min_length=1, max_length=253)


class TrainSpec(_Spec):
    iteration: int = Field(ge=1, description="Training iterations start at 1 (0 is the baseline).")
    seed: int = Field(default=0, ge=0, description="Seeds shuffling, dropout and LoRA init.")
    base_model: ModelRef
    init_adapter: PrefixUri | None = Field(
        default=None, description="The accepted candidate to continue from (its adapter/ prefix)."
    )
    train_data: ObjectUri = Field(description="JSONL: {id, text_prompt, reference, weight}.")
    supplied_data_digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="The digest of the intake's training data the supplied lines of "
        "train_data came from (the lineage records it).",
    )
    heldout_fingerprint: ObjectUri | None = Field(
        default=None,
        description="Hashed shingles of the held-out scenarios. The trainer refuses to train "
        "without one: the overlap check is not optional.",
    )
    overlap_threshold: float = Field(default=DEFAULT_OVERLAP_THRESHOLD, gt=0, le=1)
    recipe: Recipe = Recipe()
    prompt_format: PromptFormat = "auto"
    output: PrefixUri = Field(description="Where adapter/, lineage.json, progress.json go.")
    progress_every: int = Field(default=5, ge=1)
    label: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="The candidate's readable label (lineage, scorecards); default "
        "<base label>-iter-<iteration>.",
    )


class EvalSpec(_Spec):
    iteration: int = Field(ge=0)
    base_model: ModelRef
    adapter: PrefixUri | None = Field(
        default=None,
        description="A candidate's adapter/ prefix: a PEFT adapter, or a complete model when "
        "the candidate was fully fine-tuned.",
    )
    scenarios: ObjectUri = Field(description="JSONL of every scenario (wire form).")
    scenarios_digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="The digest the run pinned for them: other bytes are refused (exit 2).",
    )
    output: PrefixUri
    batch_size: int = Field(default=8, ge=1, le=1024)
    max_new_tokens: int = Field(default=48, ge=1, le=1024)
    prompt_format: PromptFormat = Field(
        default="auto",
        description="`auto` evaluates a candidate in the format its lineage records it was "
        "trained in, and the base model as its template allows.",
    )
    gpu_hourly_price: float = Field(default=0.0, ge=0)
    cluster_dimensions: tuple[Dimension, Dimension] = ("capability", "risk")

    @field_validator("cluster_dimensions")
    @classmethod
    def _different(cls, value: tuple[str, str]) -> tuple[str, str]:
        if value[0] == value[1]:
            raise ValueError("cluster_dimensions must name two different dimensions")
        return value


# --- what the images report ----------------------------------------------------------------


class _Report(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TrainExample(_Spec):
    """One line of train.jsonl: a train-split scenario's (or a supplied record's) rendered prompt
    and reference."""

    id: str = Field(min_length=1, max_length=63)
    text_prompt: str = Field(min_length=1)
    reference: str = Field(min_length=1)
    weight: float = Field(default=1.0, ge=0, le=1000)
    supplied: bool = Field(
        default=False, description="From the intake's training data, not a train scenario."
    )


class Progress(_Report):
    step: int = Field(ge=0)
    total: int = Field(ge=1)
    loss: float | None = None
    eta_seconds: float | None = Field(default=None, ge=0)
    percent: float = Field(ge=0, le=100)
    updated_at: str
    resumed_from_step: int | None = Field(
        default=None, ge=1, description="The checkpoint's step this attempt continued from."
    )


class Digested(_Report):
    label: str
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    """sha256 of the weights' bytes (of the `name sha256` lines of sharded weights)."""
    revision: str | None = Field(default=None, max_length=128)
    """For a hub model: the commit its revision resolved to when the Job loaded it."""


class TrainingData(_Report):
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    examples: int = Field(ge=0)
    scenario_ids: tuple[str, ...] = ()
    weighted: int = Field(default=0, ge=0, description="Examples whose weight is not 1.")
    supplied: int = Field(default=0, ge=0, description="Examples from the intake's training data.")
    supplied_digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="The digest of the intake's training data those examples came from.",
    )


class Lineage(_Report):
    """Where a candidate came from: labels and digests, enough to verify and to reproduce."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    schema_id: str = Field(default=LINEAGE_SCHEMA, alias="schema")
    label: str
    iteration: int = Field(ge=1)
    base_model: Digested
    init_adapter: Digested | None = None
    method: Method
    artefact_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    recipe: Recipe
    seed: int
    training_data: TrainingData
    prompt_format: Literal["plain", "chat"] | None = Field(
        default=None, description="The format the prompts were trained in (absent: plain)."
    )
    nodes: int = Field(
        default=1, ge=1, description="Nodes the training ran on (pods of its JobSet above 1)."
    )
    processes: int = Field(default=1, ge=1, description="Training processes over all nodes.")
    versions: dict[str, str] = Field(default_factory=dict)
    created_at: str


class TrainResult(_Report):
    """result.json: written last, so its presence says the candidate is complete."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    schema_id: str = Field(default=TRAIN_RESULT_SCHEMA, alias="schema")
    iteration: int
    label: str
    method: Method
    steps: int
    examples: int
    first_loss: float | None
    final_loss: float | None
    tokens: int
    tokens_per_second: float
    train_seconds: float
    device: Literal["cpu", "gpu"]
    processes: int = 1
    sharding: Sharding = Field(
        default="none",
        description="The sharding training ran with: the recipe's, or none with one process.",
    )
    trainable_parameters: int
    total_parameters: int
    artefact_bytes: int
    base_bytes: int
    heldout_checked: int = Field(description="Held-out scenarios the overlap check covered.")
    resumed_from_step: int | None = Field(
        default=None,
        description="The checkpoint step this attempt continued from; steps count the whole "
        "iteration, tokens and seconds this attempt only.",
    )


class Termination(_Report):
    """The container's termination message (at most 4 KB): what the operator may read without
    touching the object store. `contaminated` is set on a held-out overlap (exit 6)."""

    status: Literal["succeeded", "failed"]
    exit_code: int
    reason: str
    message: str = ""
    contaminated: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
    digests: dict[str, str] = Field(default_factory=dict)
    """sha256 of each result object the Job wrote (scorecard, result, lineage): the trusted
    channel (modelsmith.contract.integrity). Kept when details are dropped to fit 4 KB."""

    @model_validator(mode="after")
    def _consistent(self) -> Termination:
        if (self.status == "succeeded") != (self.exit_code == 0):
            raise ValueError("status and exit_code disagree")
        return self
