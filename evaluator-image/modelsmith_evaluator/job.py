"""One evaluation Job:

1. the spec and the scenarios, every criterion checked before any model is loaded (bad spec 2,
   no scenarios 5, unknown or malformed criterion 7);
2. the base model, plus the candidate's adapter (merged for speed) or the candidate's full model
   (missing 3, corrupt 4);
3. batched greedy generation after each scenario's rendered prompt;
4. scoring with the benchmark's criteria;
5. results.jsonl (answers: inside the customer boundary) and then scorecard.json (sanitised),
   each written under a temporary key and moved into place; the scorecard last, so a reader
   that finds it finds the results too.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsmith.contract import s3
from modelsmith.contract.criteria import CriterionError, score_scenario
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.jobspec import EvalSpec
from modelsmith.contract.objectstore import Store
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.scenario import Scenario
from modelsmith.contract.scorecard import Latency, Outcome, Scorecard, build_scorecard
from modelsmith_evaluator.scenarios import check_pinned, parse_scenarios
from modelsmith_trainer import models
from modelsmith_trainer.prompts import Resolved, for_evaluation
from modelsmith_trainer.runtime import JobFailure, configure_torch_threads

if TYPE_CHECKING:
    # The generation module imports torch: only at the point of generating.
    from modelsmith_evaluator.generate import Generation, GenerationRun

log = logging.getLogger("modelsmith.evaluator")

RESULTS = "results.jsonl"
SCORECARD = "scorecard.json"


def read_scenarios(store: Store, spec: EvalSpec) -> list[Scenario]:
    raw = store.get_bytes_or_none(spec.scenarios)
    if raw is None:
        raise JobFailure(ExitCode.BAD_SPEC, "the scenarios named by the spec do not exist")
    return parse_scenarios(check_pinned(raw, spec.scenarios_digest))


def run(store: Store, spec: EvalSpec) -> dict[str, Any]:
    scenarios = read_scenarios(store, spec)
    models.offline_unless_hub(spec.base_model.uri, spec.adapter)
    with tempfile.TemporaryDirectory(prefix="modelsmith-eval-") as scratch:
        model, tokenizer, label, digest = load_model(store, spec, Path(scratch))
        lineage = None if spec.adapter is None else models.lineage_next_to(store, spec.adapter)
        fmt = for_evaluation(spec.prompt_format, lineage, tokenizer, "the model")
        return evaluate(store, spec, scenarios, model, tokenizer, label, digest, fmt)


def load_model(store: Store, spec: EvalSpec, scratch: Path) -> tuple[Any, Any, str, str]:
    """The model to evaluate, its tokenizer, its label and its weights digest."""
    base = models.fetch(store, spec.base_model.uri, scratch / "base", "the base model")
    candidate = None
    if spec.adapter is not None:
        candidate = models.fetch(store, spec.adapter, scratch / "candidate", "the candidate")

    import torch

    threads = configure_torch_threads()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    log.info("device %s, %d CPU thread(s)", device, threads)
    if candidate is not None and candidate.kind == "model":
        # A fully fine-tuned candidate is a whole model; the base is only its lineage.
        model = models.load_causal_lm(candidate, "the candidate", dtype)
        tokenizer = models.load_tokenizer(_tokenizer_source(candidate, base), "the candidate")
    else:
        model = models.load_causal_lm(base, "the base model", dtype)
        tokenizer = models.load_tokenizer(base.source, "the base model")
        if candidate is not None:
            # Merged, the adapter costs nothing at generation time.
            model = models.attach_adapter(model, candidate, "the candidate", trainable=False)
            model = model.merge_and_unload()
    model.to(device).eval()
    if candidate is None:
        return model, tokenizer, spec.base_model.label, base.digest
    assert spec.adapter is not None
    lineage = models.lineage_next_to(store, spec.adapter) or {}
    label = lineage.get("label")
    if not isinstance(label, str) or not label:
        label = f"{spec.base_model.label}+candidate"
    return model, tokenizer, label, candidate.digest


def _tokenizer_source(candidate: models.FetchedModel, base: models.FetchedModel) -> str:
    own = Path(candidate.source)
    has_own = (own / "tokenizer.json").is_file() or (own / "tokenizer_config.json").is_file()
    return candidate.source if has_own else base.source


def evaluate(
    store: Store,
    spec: EvalSpec,
    scenarios: list[Scenario],
    model: Any,
    tokenizer: Any,
    label: str,
    digest: str | None,
    prompt_format: Resolved = "plain",
) -> dict[str, Any]:
    from modelsmith_evaluator.generate import generate_all

    prompts = [render_prompt(s) for s in scenarios]
    run = generate_all(
        model,
        tokenizer,
        prompts,
        batch_size=spec.batch_size,
        max_new_tokens=spec.max_new_tokens,
        prompt_format=prompt_format,
    )
    outcomes: list[Outcome] = []
    lines: list[str] = []
    for scenario, generation in zip(scenarios, run.generations, strict=True):
        outcome, line = _scored(scenario, generation)
        outcomes.append(outcome)
        lines.append(line)
    scorecard = build_scorecard(
        iteration=spec.iteration,
        model_label=label,
        model_digest=digest,
        outcomes=outcomes,
        dimensions=spec.cluster_dimensions,
        device=run.device,
        device_seconds=run.device_seconds,
        gpu_hourly_price=spec.gpu_hourly_price,
    )
    store.put_atomic(
        s3.join(spec.output, RESULTS),
        ("\n".join(lines) + "\n").encode("utf-8"),
        "application/x-ndjson",
    )
    reported = store.put_json_atomic(
        s3.join(spec.output, SCORECARD), scorecard.document()
    )
    return _summary(spec, scorecard, label, run, prompt_format, reported)


def _scored(scenario: Scenario, generation: Generation) -> tuple[Outcome, str]:
    """The scenario's outcome for the scorecard and its line in the results file."""
    try:
        scored = score_scenario(scenario, generation.completion)
    except CriterionError as err:
        raise JobFailure(ExitCode.BAD_CRITERION, f"scenario {scenario.id}: {err}") from None
    outcome = Outcome(
        scenario=scenario,
        passed=scored.passed,
        latency_ms=generation.latency_ms,
        prompt_tokens=generation.prompt_tokens,
        generated_tokens=generation.generated_tokens,
    )
    line = json.dumps(
        {
            "id": scenario.id,
            "split": str(scenario.split),
            "capability": scenario.capability,
            "risk": str(scenario.risk),
            "operatorLens": scenario.operator_lens,
            "outcomeType": scenario.outcome_type,
            "passed": scored.passed,
            "reason": scored.reason,
            "completion": generation.completion,
            "stopped": generation.stopped,
            "prompt_tokens": generation.prompt_tokens,
            "generated_tokens": generation.generated_tokens,
            "latency_ms": round(generation.latency_ms, 3),
            "criteria": scored.model_dump(mode="json", include={"pass_results", "fail_results"}),
        },
        sort_keys=True,
    )
    return outcome, line


def _summary(
    spec: EvalSpec,
    scorecard: Scorecard,
    label: str,
    run: GenerationRun,
    prompt_format: Resolved,
    reported: str,
) -> dict[str, Any]:
    """Logs the result and returns the Job's termination summary."""
    overall, heldout = scorecard.overall, scorecard.splits.get("heldout")
    latency = scorecard.latency_ms or Latency()
    log.info(
        "%s (%s prompts): %d/%d passed (held-out %s/%s), p50 %.1f ms",
        label,
        prompt_format,
        overall.passed,
        overall.total,
        None if heldout is None else heldout.passed,
        None if heldout is None else heldout.total,
        latency.p50 or 0.0,
    )
    return {
        "iteration": spec.iteration,
        "model_label": label,
        "score": overall.score,
        "passed": overall.passed,
        "total": overall.total,
        "heldout_score": scorecard.heldout_score,
        "p50_ms": latency.p50,
        "p95_ms": latency.p95,
        "device": run.device,
        "per_decision": None if scorecard.cost is None else scorecard.cost.per_decision,
        "prompt_format": prompt_format,
        "digests": {"scorecard": reported},
    }
