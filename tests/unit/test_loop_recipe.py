"""Failure clusters and the next recipe."""

# ruff: noqa: RUF001  (cluster labels join their cells with a multiplication sign)

from __future__ import annotations

import pytest
from loop_sim import HELDOUT_IDS, TRAIN_IDS, card

from modelsmith.loop import Recipe, next_recipe, strongest_failure_cluster

TIE = (
    ("a-1", "alpha", "low", "train"),
    ("a-2", "alpha", "low", "heldout"),
    ("z-1", "zulu", "high", "train"),
    ("z-2", "zulu", "high", "train"),
    ("m-1", "mike", "high", "heldout"),
    ("m-2", "mike", "high", "train"),
)


def test_strongest_cluster_is_the_cell_with_most_failures() -> None:
    cluster = strongest_failure_cluster(card(0, {"b-01"}), ("capability", "risk"))
    assert cluster is not None
    assert cluster.label == "capability=routing × risk=high"
    assert cluster.dimensions == {"capability": "routing", "risk": "high"}
    assert cluster.failures == 4
    assert cluster.scenario_ids == ("r-01", "r-02", "r-03", "r-04")
    assert cluster.failing_train_ids == ("r-01", "r-02", "r-04")


def test_ties_go_to_higher_risk_then_to_the_first_label() -> None:
    cluster = strongest_failure_cluster(card(0, set(), benchmark=TIE), ("capability", "risk"))
    assert cluster is not None
    # alpha/low, zulu/high and mike/high fail 2 each: high beats low, mike sorts before zulu.
    assert cluster.label == "capability=mike × risk=high"
    by_lens = strongest_failure_cluster(card(0, set(), benchmark=TIE), ("risk", "operatorLens"))
    assert by_lens is not None and by_lens.label == "risk=high × operatorLens=frontline"


def test_tie_breaking_does_not_depend_on_scenario_order() -> None:
    a = strongest_failure_cluster(card(0, set(), benchmark=TIE), ("capability", "risk"))
    b = strongest_failure_cluster(card(0, set(), benchmark=TIE[::-1]), ("capability", "risk"))
    assert a == b


def test_no_failures_no_cluster() -> None:
    everything = card(0, TRAIN_IDS | HELDOUT_IDS)
    assert strongest_failure_cluster(everything, ("capability", "risk")) is None


@pytest.mark.parametrize("dims", [("risk", "risk"), ("capability",), ("capability", "colour")])
def test_cluster_dimensions_must_be_two_known_ones(dims: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="two different"):
        strongest_failure_cluster(card(0, set()), dims)


def test_next_recipe_upweights_failing_train_scenarios_of_the_cluster_only() -> None:
    scorecard = card(0, {"b-01"})
    cluster = strongest_failure_cluster(scorecard, ("capability", "risk"))
    plan = next_recipe(Recipe(seed=7), scorecard, cluster, 4.0, iteration=1)
    assert set(plan.weights) == TRAIN_IDS
    assert not set(plan.weights) & HELDOUT_IDS
    assert plan.upweighted == ("r-01", "r-02", "r-04")
    assert {k: w for k, w in plan.weights.items() if w != 1.0} == dict.fromkeys(
        plan.upweighted, 4.0
    )
    # f-01 fails too, but outside the strongest cluster.
    assert plan.weights["f-01"] == 1.0
    assert plan.recipe.seed == 8
    assert (plan.recipe.rank, plan.rank_raised) == (8, False)


def test_next_recipe_without_failures_weighs_everything_alike() -> None:
    scorecard = card(0, TRAIN_IDS | HELDOUT_IDS)
    plan = next_recipe(Recipe(), scorecard, None, 3.0, iteration=2)
    assert set(plan.weights.values()) == {1.0}
    assert plan.upweighted == ()


def test_near_a_plateau_the_rank_doubles_with_alpha() -> None:
    scorecard = card(0, set())
    plan = next_recipe(Recipe(rank=8, alpha=16), scorecard, None, 3.0, iteration=3, raise_rank=True)
    assert (plan.recipe.rank, plan.recipe.alpha, plan.rank_raised) == (16, 32, True)
    cont = next_recipe(Recipe(rank=8, alpha=16), scorecard, None, 3.0, iteration=4, start_rank=16)
    assert (cont.recipe.rank, cont.recipe.alpha, cont.rank_raised) == (16, 32, False)
    capped = next_recipe(
        Recipe(rank=64, alpha=64), scorecard, None, 3.0, iteration=2, raise_rank=True
    )
    assert (capped.recipe.rank, capped.rank_raised) == (64, False)
    full = next_recipe(Recipe(method="full"), scorecard, None, 3.0, iteration=2, raise_rank=True)
    assert not full.rank_raised


def test_recipe_summary() -> None:
    assert Recipe().summary() == "lora r8 a16 steps100 lr0.0002"
    assert Recipe(method="full", steps=50).summary() == "full steps50 lr0.0002"
