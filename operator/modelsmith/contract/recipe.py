"""The training recipe: its fields, defaults and bounds, defined here only.

Three models carry it, each deriving from `Recipe`: the Job spec's (this one, snake_case, as the
trainer reads it and the lineage records it), the loop's (`modelsmith.loop.recipe.Recipe`,
camelCase in status and the ledger, with a one-line summary) and the API's
(`modelsmith.api.run_spec.Recipe`, the IterationRun's spec, from which the CRD schema and its
bounds are generated)."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["lora", "full"]
Sharding = Literal["none", "fsdp"]
CHECKPOINT_EVERY_STEPS: Final = 50
"""The default checkpoint interval: a retried attempt repeats at most this many steps."""


class Recipe(BaseModel):
    """How to train. `target_modules` empty means every linear layer but the output head."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method = Field(
        default="lora", description="lora trains a low-rank adapter; full fine-tunes every weight."
    )
    rank: int = Field(default=8, ge=1, le=256, description="LoRA rank (lora only).")
    alpha: int = Field(default=16, ge=1, le=1024, description="LoRA alpha (lora only).")
    dropout: float = Field(default=0.05, ge=0, le=1, description="LoRA dropout (lora only).")
    target_modules: tuple[Annotated[str, Field(min_length=1, max_length=128)], ...] = Field(
        default_factory=tuple,
        max_length=16,
        description="Module names the adapter attaches to (e.g. q_proj, v_proj); empty: the "
        "trainer's default for the architecture.",
    )
    steps: int = Field(default=100, ge=1, le=100_000, description="Optimizer steps per iteration.")
    learning_rate: float = Field(default=2e-4, gt=0, le=1, description="Peak learning rate.")
    batch_size: int = Field(default=8, ge=1, le=1024, description="Examples per step.")
    max_seq_length: int = Field(
        default=512, ge=16, le=32768, description="Longest tokenised example; longer ones are cut."
    )
    seed: int = Field(
        default=0,
        ge=0,
        description="Random seed; the same seed repeats a run. An iteration trains with the "
        "run's seed plus its number, so it has no upper bound here (the run's has).",
    )
    checkpoint_every_steps: int = Field(
        default=CHECKPOINT_EVERY_STEPS,
        ge=0,
        le=100_000,
        description="Steps between training checkpoints in the iteration's prefix; a retried "
        "or preempted attempt resumes from the last one. 0: no checkpoints.",
    )
    sharding: Sharding = Field(
        default="none",
        description="none: every training process holds the whole model (DDP). fsdp: the "
        "processes share the weights, gradients and optimiser state between them (FSDP), for "
        "a model that does not fit one device. Only takes effect with more than one process "
        "(the target's GPUs and nodes); the result records the sharding applied.",
    )
