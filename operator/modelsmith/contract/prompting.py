"""The exact text a model sees for a scenario, shared by the trainer and the evaluator.

Training text is `render_prompt(scenario) + reference + eos`; evaluation generates after
`render_prompt(scenario)`. Any change here changes what every trained adapter learned, so the
format stays small and fixed: the prompt, one `key: value` line per input (sorted by key), then
the answer cue."""

from __future__ import annotations

from collections.abc import Mapping

from modelsmith.contract.scenario import Scenario

ANSWER_CUE = "\nAnswer: "


def render_prompt(scenario: Scenario) -> str:
    return render_parts(scenario.prompt, scenario.inputs)


def render_parts(prompt: str, inputs: Mapping[str, str]) -> str:
    """A prompt and its named inputs as the model reads them (scenarios and supplied training
    records alike)."""
    lines = [prompt.strip()]
    lines.extend(f"{key}: {inputs[key].strip()}" for key in sorted(inputs))
    return "\n".join(lines) + ANSWER_CUE
