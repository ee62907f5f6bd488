"""The training recipe and how the next one is chosen from the evidence."""

from __future__ import annotations

from typing import Final

from modelsmith.contract import recipe as contract_recipe
from modelsmith.contract.scorecard import TRAIN, Scorecard
from modelsmith.loop.clusters import Cluster
from modelsmith.loop.model import LoopModel

MAX_AUTO_RANK: Final = 64
"""The loop doubles a LoRA rank near a plateau, up to here; past it a person decides."""


class Recipe(contract_recipe.Recipe, LoopModel):
    """What the trainer runs with (the TrainSpec's `recipe`), camelCase on the wire like every
    loop value; fields and bounds are the contract's. The run spec's `failingWeight` is a
    weighting policy, not part of the recipe: it arrives in RunConfig."""

    def summary(self) -> str:
        """One line for history and Events, e.g. 'lora r8 a16 steps100 lr2e-4'."""
        lr = f"{self.learning_rate:g}"
        if self.method == "full":
            return f"full steps{self.steps} lr{lr}"
        return f"lora r{self.rank} a{self.alpha} steps{self.steps} lr{lr}"


class RecipePlan(LoopModel):
    """The recipe for one iteration and the sampling weight of every train scenario."""

    recipe: Recipe
    weights: dict[str, float]
    upweighted: tuple[str, ...]
    rank_raised: bool
    rationale: str


def raised_rank(rank: int) -> int | None:
    """The rank a plateau-near iteration moves to, or None when already at MAX_AUTO_RANK."""
    return None if rank >= MAX_AUTO_RANK else min(rank * 2, MAX_AUTO_RANK)


def next_recipe(
    base_recipe: Recipe,
    scorecard: Scorecard,
    cluster: Cluster | None,
    failing_weight: float,
    *,
    iteration: int,
    start_rank: int | None = None,
    raise_rank: bool = False,
) -> RecipePlan:
    """The recipe and weights for training iteration `iteration`.

    - Train scenarios that fail in `scorecard` and belong to the strongest failure cluster
      weigh `failing_weight`; every other train scenario weighs 1.0. Held-out scenarios never
      appear: the weights are the trainer's whole view of the benchmark.
    - The seed moves with the iteration (base seed + iteration): a rejected iteration retried
      from the same adapter with the same data would otherwise reproduce the same candidate.
    - `start_rank` is the rank of the accepted adapter training continues from. With
      `raise_rank` (the caller's "plateau is near") a LoRA rank doubles, alpha with it so the
      adapter's scale (alpha / rank) is unchanged; a raised rank cannot continue the accepted
      adapter, so the caller starts that iteration from the base model.
    """
    if iteration < 1:
        raise ValueError("training iterations start at 1")
    rank = start_rank or base_recipe.rank
    alpha = max(1, round(base_recipe.alpha * rank / base_recipe.rank))
    new_rank = raised_rank(rank) if raise_rank and base_recipe.method == "lora" else None
    if new_rank is not None:
        alpha, rank = max(1, round(alpha * new_rank / rank)), new_rank
    recipe = base_recipe.model_copy(
        update={"rank": rank, "alpha": alpha, "seed": base_recipe.seed + iteration}
    )

    focus = frozenset(cluster.failing_train_ids) if cluster is not None else frozenset[str]()
    train_ids = sorted({s.id for s in scorecard.scenarios if s.split == TRAIN})
    upweighted = tuple(i for i in train_ids if i in focus)
    weights = {i: (failing_weight if i in focus else 1.0) for i in train_ids}

    if upweighted and cluster is not None:
        why = (
            f"{len(upweighted)} failing train scenario(s) of {cluster.label} weigh "
            f"{failing_weight:g}, every other train scenario 1"
        )
    elif cluster is not None:
        why = f"{cluster.label} has no failing train scenario to up-weight; uniform weights"
    else:
        why = "no failing scenarios; uniform weights"
    if new_rank is not None:
        why += f"; plateau near, rank raised to {new_rank}"
    return RecipePlan(
        recipe=recipe,
        weights=weights,
        upweighted=upweighted,
        rank_raised=new_rank is not None,
        rationale=why,
    )
