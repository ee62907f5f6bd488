"""The kinds of modelsmith.io/v1alpha1, in the order a newcomer meets them (the four
namespaced ones teams write, then the cluster-scoped ones platform admins write)."""

from __future__ import annotations

from modelsmith.api.benchmark import BENCHMARK
from modelsmith.api.gate import PROMOTION_GATE
from modelsmith.api.intake import MODEL_INTAKE
from modelsmith.api.policy import APPROVER_POLICY
from modelsmith.api.resource import ResourceKind
from modelsmith.api.run import ITERATION_RUN
from modelsmith.api.target import EXECUTION_TARGET

ALL_KINDS: tuple[ResourceKind, ...] = (
    BENCHMARK,
    MODEL_INTAKE,
    ITERATION_RUN,
    PROMOTION_GATE,
    APPROVER_POLICY,
    EXECUTION_TARGET,
)
