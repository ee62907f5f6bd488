"""How evenly a benchmark's scenarios spread over its dimensions.

Singleton classes (a dimension value exercised by one scenario) are reported here and only here;
the weak-rubric challenges do not repeat them."""

from __future__ import annotations

from collections.abc import Sequence

from modelsmith.api.benchmark import BalancePolicy, BalanceReport, DimensionShares, DimensionValue
from modelsmith.api.common import Dimension
from modelsmith.benchmark.coverage import MAX_DIMENSION_VALUES, counts, heldout_count
from modelsmith.contract.scenario import Scenario

MIN_SCENARIOS = 20
MAX_SCENARIOS = 40
# Shares are rounded so that the status does not churn on float noise.
_DIGITS = 4


def balance_report(
    scenarios: Sequence[Scenario],
    policy: BalancePolicy | None = None,
    *,
    min_scenarios: int = MIN_SCENARIOS,
    max_scenarios: int = MAX_SCENARIOS,
) -> BalanceReport:
    """Each dimension value's share; values over `policy.max_share`; values with a single
    scenario; and, in `size_warning`, a held-out share outside the policy's bounds or a size
    outside `min_scenarios`..`max_scenarios`."""
    policy = policy or BalancePolicy()
    total = len(scenarios)
    shares: dict[Dimension, dict[str, float]] = {}
    overweight: list[DimensionValue] = []
    singletons: list[DimensionValue] = []
    for dimension in Dimension:
        counted = counts(scenarios, dimension) if total else {}
        share = {value: round(n / total, _DIGITS) for value, n in counted.items()}
        shares[dimension] = _largest(share)
        overweight.extend(
            DimensionValue(dimension=dimension, value=value, share=share[value])
            for value, n in counted.items()
            if n / total > policy.max_share
        )
        singletons.extend(
            DimensionValue(dimension=dimension, value=value, share=share[value])
            for value, n in counted.items()
            if n == 1
        )
    heldout = heldout_count(scenarios) / total if total else None
    return BalanceReport(
        shares=DimensionShares(
            capability=shares[Dimension.CAPABILITY],
            risk=shares[Dimension.RISK],
            operator_lens=shares[Dimension.OPERATOR_LENS],
            outcome_type=shares[Dimension.OUTCOME_TYPE],
        ),
        overweight=overweight[:MAX_DIMENSION_VALUES],
        singletons=singletons[:MAX_DIMENSION_VALUES],
        heldout_share=None if heldout is None else round(heldout, _DIGITS),
        size_warning=_size_warning(total, heldout, policy, min_scenarios, max_scenarios),
    )


def _largest(share: dict[str, float]) -> dict[str, float]:
    if len(share) <= MAX_DIMENSION_VALUES:
        return share
    kept = sorted(share.items(), key=lambda item: (-item[1], item[0]))[:MAX_DIMENSION_VALUES]
    return dict(sorted(kept))


def _size_warning(
    total: int,
    heldout_share: float | None,
    policy: BalancePolicy,
    min_scenarios: int,
    max_scenarios: int,
) -> str | None:
    warnings = []
    if total < min_scenarios:
        warnings.append(f"{total} scenarios, fewer than {min_scenarios}")
    elif total > max_scenarios:
        warnings.append(f"{total} scenarios, more than {max_scenarios}")
    if heldout_share is not None:
        if heldout_share < policy.heldout_share_min:
            warnings.append(
                f"held-out share {heldout_share:.2f} is below {policy.heldout_share_min:.2f}"
            )
        elif heldout_share > policy.heldout_share_max:
            warnings.append(
                f"held-out share {heldout_share:.2f} is above {policy.heldout_share_max:.2f}"
            )
    return "; ".join(warnings) or None
