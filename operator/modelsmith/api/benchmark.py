"""Benchmark: what "better" means for one domain."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from modelsmith.api.base import ApiModel
from modelsmith.api.common import (
    CONFIGMAP_KEY,
    DNS_LABEL,
    Condition,
    Digest,
    Dimension,
    KubernetesObject,
    ObjectName,
    ScenarioId,
    cel,
    conditions_field,
    immutable,
    list_map,
    observed_generation_field,
    validations,
)
from modelsmith.api.resource import AGE_COLUMN, PrinterColumn, ResourceKind, ready_column
from modelsmith.contract.scenario import Scenario, Split

# --- Benchmark spec ---------------------------------------------------------------------------

UNIQUE_SCENARIO_IDS = "scenario ids must be unique"
ONE_SCENARIO_SOURCE = "exactly one of scenarios (inline) or scenariosFrom must be set"
NEEDS_HELDOUT = "inline scenarios need at least one scenario in the heldout split"
NEEDS_TRAIN = (
    "inline scenarios need at least one scenario in the train split: with every scenario held "
    "out there is nothing to train on"
)
HELDOUT_BOUNDS_ORDER = "heldoutShareMin must not exceed heldoutShareMax"
ONE_SOURCE_KIND = "scenariosFrom needs exactly one of configMapRef or s3"


class ConfigMapKeyReference(ApiModel):
    """A key of a ConfigMap in the Benchmark's namespace."""

    name: ObjectName = Field(description="The ConfigMap's name.")
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=CONFIGMAP_KEY,
        description="The key whose value holds the scenarios.",
    )


class S3Source(ApiModel):
    """An object in S3-protocol storage, read with the operator's object store credentials."""

    uri: str = Field(
        max_length=1024,
        pattern=r"^s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]/.+$",
        description="s3://<bucket>/<key> of the scenarios document.",
    )


class ScenarioSource(ApiModel):
    """Where a large benchmark's scenarios live. The document is a YAML (or JSON) list of
    scenarios with the same fields as spec.scenarios. The operator records its digest; content
    that changes under the same version makes the Benchmark Invalid."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.configMapRef) != has(self.s3)", ONE_SOURCE_KIND)
        )
    )

    config_map_ref: ConfigMapKeyReference | None = Field(
        default=None, description="A ConfigMap key holding the scenarios."
    )
    s3: S3Source | None = Field(default=None, description="An object holding the scenarios.")

    @model_validator(mode="after")
    def _one_kind(self) -> ScenarioSource:
        if (self.config_map_ref is None) == (self.s3 is None):
            raise ValueError(ONE_SOURCE_KIND)
        return self


class BalancePolicy(ApiModel):
    """Limits the balance report checks the scenarios against. Breaches are reported in
    status.balance, never silently corrected."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            # has(): the API server also checks the `{}` default itself, before defaulting.
            cel(
                "!has(self.heldoutShareMin) || !has(self.heldoutShareMax) || "
                "self.heldoutShareMin <= self.heldoutShareMax",
                HELDOUT_BOUNDS_ORDER,
            )
        )
    )

    max_share: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="The largest share of scenarios any one value of a dimension may take "
        "(e.g. at most 40% of scenarios about one capability).",
    )
    heldout_share_min: float = Field(
        default=0.15, ge=0, le=1, description="The smallest acceptable share of held-out scenarios."
    )
    heldout_share_max: float = Field(
        default=0.35, ge=0, le=1, description="The largest acceptable share of held-out scenarios."
    )

    @model_validator(mode="after")
    def _ordered(self) -> BalancePolicy:
        if self.heldout_share_min > self.heldout_share_max:
            raise ValueError(HELDOUT_BOUNDS_ORDER)
        return self


class BenchmarkSpec(ApiModel):
    """What "better" means for one domain: a versioned, immutable set of scenarios."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(has(self.scenarios) && size(self.scenarios) > 0) != has(self.scenariosFrom)",
                ONE_SCENARIO_SOURCE,
            ),
            cel(
                "!has(self.scenarios) || size(self.scenarios) == 0 || "
                "self.scenarios.exists(s, s.split == 'heldout')",
                NEEDS_HELDOUT,
                field_path=".scenarios",
            ),
            cel(
                "!has(self.scenarios) || size(self.scenarios) == 0 || "
                "self.scenarios.exists(s, s.split == 'train')",
                NEEDS_TRAIN,
                field_path=".scenarios",
            ),
            cel(
                "has(self.scenariosFrom) == has(oldSelf.scenariosFrom)",
                "the scenario source cannot change; publish new content as a new Benchmark",
            ),
        )
    )

    version: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.+]*[A-Za-z0-9])?$",
        description="The benchmark version (e.g. 1.0.0). Immutable: a new version is a new "
        "Benchmark object, so a name and version always mean the same content.",
        json_schema_extra=validations(
            immutable("version is immutable; publish a new version as a new Benchmark")
        ),
    )
    owner: str = Field(
        min_length=1,
        max_length=253,
        description="Who answers for this benchmark (a person, team or group).",
    )
    domain: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
        description="The domain the scenarios come from (e.g. support-triage).",
    )
    description: str = Field(
        default="", max_length=2048, description="What the benchmark measures, in plain words."
    )
    scenarios: list[Scenario] = Field(
        default_factory=list,
        max_length=40,
        description="Inline scenarios (up to 40; 20 to 40 is the day-one size). Larger "
        "benchmarks use scenariosFrom. Immutable once created.",
        json_schema_extra=validations(
            cel("self.all(s, self.exists_one(t, t.id == s.id))", UNIQUE_SCENARIO_IDS),
            immutable("scenarios are immutable; publish changed scenarios as a new Benchmark"),
            **list_map("id"),
        ),
    )
    scenarios_from: ScenarioSource | None = Field(
        default=None,
        description="Where the scenarios live when they are not inline. Immutable once created.",
        json_schema_extra=validations(
            immutable("scenariosFrom is immutable; publish changed scenarios as a new Benchmark")
        ),
    )
    balance: BalancePolicy = Field(
        default_factory=BalancePolicy,
        description="Balance policy.",
        json_schema_extra={"default": {}},
    )

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkSpec:
        ids = [s.id for s in self.scenarios]
        if len(set(ids)) != len(ids):
            raise ValueError(UNIQUE_SCENARIO_IDS)
        if bool(self.scenarios) == (self.scenarios_from is not None):
            raise ValueError(ONE_SCENARIO_SOURCE)
        if self.scenarios and not any(s.split == Split.HELDOUT for s in self.scenarios):
            raise ValueError(NEEDS_HELDOUT)
        if self.scenarios and not any(s.split == Split.TRAIN for s in self.scenarios):
            raise ValueError(NEEDS_TRAIN)
        return self


# --- Benchmark status -------------------------------------------------------------------------


class ScenarioSourceKind(StrEnum):
    INLINE = "inline"
    CONFIG_MAP = "configMap"
    S3 = "s3"


def _dimension_map(value_type: str, description: str) -> Any:
    return Field(
        default_factory=dict,
        max_length=64,
        description=f"{description} ({value_type} per value of the dimension).",
    )


class Coverage(ApiModel):
    """How many scenarios exercise each value of each dimension."""

    capability: dict[str, int] = _dimension_map("count", "Scenarios per capability")
    risk: dict[str, int] = _dimension_map("count", "Scenarios per risk level")
    operator_lens: dict[str, int] = _dimension_map("count", "Scenarios per operator lens")
    outcome_type: dict[str, int] = _dimension_map("count", "Scenarios per outcome type")


class DimensionShares(ApiModel):
    """The share (0..1) of scenarios taken by each value of each dimension."""

    capability: dict[str, float] = _dimension_map("share", "Shares by capability")
    risk: dict[str, float] = _dimension_map("share", "Shares by risk level")
    operator_lens: dict[str, float] = _dimension_map("share", "Shares by operator lens")
    outcome_type: dict[str, float] = _dimension_map("share", "Shares by outcome type")


class DimensionValue(ApiModel):
    """One value of one dimension, with its share where that matters."""

    dimension: Dimension = Field(description="capability, risk, operatorLens or outcomeType.")
    value: str = Field(max_length=63, description="The dimension's value (e.g. routing).")
    share: float | None = Field(default=None, ge=0, le=1, description="Its share of all scenarios.")


class BalanceReport(ApiModel):
    """How evenly the scenarios spread, measured against spec.balance."""

    shares: DimensionShares = Field(
        default_factory=DimensionShares, description="Shares per dimension value."
    )
    overweight: list[DimensionValue] = Field(
        default_factory=list,
        max_length=64,
        description="Values whose share exceeds spec.balance.maxShare.",
    )
    singletons: list[DimensionValue] = Field(
        default_factory=list,
        max_length=64,
        description="Values exercised by a single scenario: one answer decides the whole class.",
    )
    heldout_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of scenarios in the heldout split."
    )
    size_warning: str | None = Field(
        default=None,
        max_length=512,
        description="Set when the benchmark is outside the 20 to 40 scenario day-one size or "
        "the held-out share is outside spec.balance's bounds.",
    )


class Challenge(ApiModel):
    """A weak-rubric finding about one scenario (or class of scenarios). Carries ids and codes,
    never scenario text."""

    scenario_id: ScenarioId | None = Field(
        default=None,
        description="The scenario concerned, when there is one (a class finding names its "
        "scenarios in detail).",
    )
    reason: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="A CamelCase code: NoFailCriteria, TriviallySatisfiable, CopiedFromPrompt, "
        "DuplicateScenario, InvalidRegex, ContradictoryCriteria (no answer can pass: the "
        "benchmark is Invalid), NoTrainingScenario (a capability or outcome type only held-out "
        "scenarios exercise), ...",
    )
    detail: str = Field(
        default="",
        max_length=512,
        description="What to review, naming fields and ids only (no prompt or reference text).",
    )


class BenchmarkStatus(ApiModel):
    """What the operator observed about the benchmark."""

    observed_generation: int | None = observed_generation_field()
    conditions: list[Condition] = conditions_field()
    digest: Digest | None = Field(
        default=None,
        description="sha256 of the canonical scenario content; the identity of this version.",
    )
    version_digest: Digest | None = Field(
        default=None,
        description="The digest this version was first Ready with, kept for good: content "
        "read later under the same version with another digest makes the Benchmark Invalid "
        "(ContentChanged) until the content is restored or a new version is published.",
    )
    source: ScenarioSourceKind | None = Field(
        default=None, description="Where the scenarios were read from: inline, configMap or s3."
    )
    scenario_count: int | None = Field(default=None, ge=0, description="Number of scenarios.")
    heldout_count: int | None = Field(
        default=None, ge=0, description="Number of scenarios in the heldout split."
    )
    coverage: Coverage | None = Field(
        default=None, description="Scenario counts by capability, risk, lens and outcome type."
    )
    balance: BalanceReport | None = Field(
        default=None, description="The balance report against spec.balance."
    )
    challenges: list[Challenge] = Field(
        default_factory=list,
        max_length=100,
        description="Weak-rubric challenges a domain owner should review (at most 100).",
    )


class Benchmark(KubernetesObject):
    """A versioned set of scenarios defining what "better" means for one domain."""

    kind: Literal["Benchmark"] = Field(default="Benchmark", description="Benchmark.")
    spec: BenchmarkSpec = Field(description="The scenarios and balance policy.")
    status: BenchmarkStatus | None = Field(default=None, description="Observed state.")


BENCHMARK = ResourceKind(
    kind="Benchmark",
    plural="benchmarks",
    short_name="bench",
    spec=BenchmarkSpec,
    status=BenchmarkStatus,
    description=(
        "A Benchmark defines what 'better' means for one domain: a versioned, immutable set of "
        "scenarios (train and held-out) with deterministic pass and fail criteria. The operator "
        "records its digest, coverage, balance and weak-rubric challenges in status."
    ),
    columns=(
        PrinterColumn("Version", "string", ".spec.version", "Benchmark version."),
        PrinterColumn("Scenarios", "integer", ".status.scenarioCount", "Number of scenarios."),
        PrinterColumn("Held-Out", "integer", ".status.heldoutCount", "Held-out scenarios."),
        ready_column("True when the benchmark is valid and its digest recorded."),
        AGE_COLUMN,
        PrinterColumn("Owner", "string", ".spec.owner", "Benchmark owner.", priority=1),
        PrinterColumn("Digest", "string", ".status.digest", "Content digest.", priority=1),
    ),
    selectable_fields=(".spec.version", ".spec.domain"),
)
