"""How a scenario's rendered prompt becomes the token ids a model continues, shared by the trainer
and the evaluator so a candidate is evaluated on exactly the prompts it was trained after.

`plain`: the text as it is (with whatever special tokens the tokenizer adds). `chat`: the text as
the user's turn of the model's own chat template, followed by the template's opening of the
assistant's turn. An instruction-tuned model was trained to answer there, and to end its turn
with the end token that the trained answers end on too. `auto`: chat when the tokenizer has a
template, plain otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.jobspec import PromptFormat
from modelsmith_trainer.runtime import JobFailure

Resolved = Literal["plain", "chat"]


def resolve(requested: PromptFormat, tokenizer: Any, what: str) -> Resolved:
    """The format to use. Asking for chat of a model without a template is a bad spec (exit 2):
    guessing a template would prompt the model in a format it never saw."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if requested == "chat" and not has_template:
        raise JobFailure(
            ExitCode.BAD_SPEC, f"chat prompting was asked for but {what} has no chat template"
        )
    if requested == "auto":
        return "chat" if has_template else "plain"
    return requested


def prompt_ids(tokenizer: Any, texts: Sequence[str], fmt: Resolved) -> list[list[int]]:
    """Token ids per text, ready for the answer to follow."""
    if fmt == "plain":
        return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"]]
    return [
        list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=True, add_generation_prompt=True
            )
        )
        for text in texts
    ]


def for_evaluation(
    requested: PromptFormat, lineage: dict[str, Any] | None, tokenizer: Any, what: str
) -> Resolved:
    """`auto` evaluates a candidate in the format it was trained in (its lineage says; lineage
    from before the field existed means plain), the base model as `resolve` decides."""
    if requested == "auto" and lineage is not None:
        trained = lineage.get("prompt_format") or "plain"
        if trained == "chat":
            return "chat"
        if trained == "plain":
            return "plain"
    return resolve(requested, tokenizer, what)
