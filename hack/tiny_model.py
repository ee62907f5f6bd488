"""Builds the tiny base model the tests and the demo specialise: a small Llama-architecture causal
LM with random weights (fixed seed) and a byte-level BPE tokenizer trained offline on a
benchmark's own vocabulary. Nothing is downloaded.

    python hack/tiny_model.py --benchmark examples/quickstart/benchmark.yaml --out DIR \
        [--upload s3://modelsmith/models/tiny-support-base/]

The directory is an ordinary `save_pretrained` model (config.json, model.safetensors, tokenizer
files), loaded by the trainer and evaluator exactly as a customer's own model would be. The
byte-level tokenizer round-trips any text, so completions decode to exactly what was generated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from modelsmith.api.benchmark import Benchmark
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.scenario import Scenario

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]


@dataclass(frozen=True)
class TinyShape:
    """About 1.05 M parameters (4 layers of width 128, a vocabulary of about 770 tokens): a
    hundred LoRA steps take about ten seconds on one CPU core."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    max_position_embeddings: int = 512
    vocab_size: int = 1024
    seed: int = 1234
    head_scale: float = 8.0
    """The output head starts this many times larger than the usual 0.02 init. After the final
    norm the hidden state has unit scale and a LoRA adapter never touches the head, so with the
    usual init the adapter could reach logits of about 2.5 at best: the right token would win
    but never confidently, and training would stall at a loss near log(vocab). Pretrained
    heads are far larger than random ones; this stands in for that."""


MICRO = TinyShape(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vocab_size=300
)
"""A smaller model still, for unit tests of the trainer and evaluator on one core."""


def corpus(scenarios: Sequence[Scenario]) -> list[str]:
    """Every text the model will see or be asked to produce: rendered prompts, inputs,
    references and the criteria's expected values."""
    texts: list[str] = []
    for scenario in scenarios:
        texts.append(render_prompt(scenario))
        texts.extend(scenario.inputs.values())
        if scenario.reference:
            texts.append(scenario.reference)
        for criterion in (*scenario.pass_criteria, *scenario.fail_criteria):
            if criterion.value:
                texts.append(criterion.value)
            texts.extend(criterion.values or ())
    return texts


def build_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (transformers' PreTrainedTokenizerFast) that adds `<s>` in
    front of every encoded text and knows `</s>` and `<pad>`."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    hub: Any = transformers
    return hub.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",
        model_max_length=512,
        model_input_names=["input_ids", "attention_mask"],
    )


def llama(tokenizer: Any, shape: TinyShape) -> Any:
    """A Llama of `shape` over `tokenizer`'s vocabulary, its weights drawn from `shape.seed`."""
    import torch
    import transformers

    hub: Any = transformers
    config = hub.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_attention_heads,
        max_position_embeddings=shape.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(shape.seed)
    model = hub.LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(shape.head_scale)
    return model


def build(scenarios: Sequence[Scenario], out: Path, shape: TinyShape | None = None) -> Path:
    """Writes the model and tokenizer to `out` and returns it."""
    import transformers

    hub: Any = transformers

    shape = shape or TinyShape()
    tokenizer = build_tokenizer(corpus(scenarios), shape.vocab_size)
    vocab = len(tokenizer)
    model = llama(tokenizer, shape)
    config = model.config
    model.generation_config = hub.GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        do_sample=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    card = {
        "name": "tiny-support-base",
        "architecture": "LlamaForCausalLM",
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": vocab,
        "shape": asdict(shape),
        "note": "random weights; built offline by hack/tiny_model.py for tests and the demo",
    }
    (out / "modelsmith-model.json").write_text(json.dumps(card, indent=2) + "\n")
    return out


def load_scenarios(benchmark: Path) -> list[Scenario]:
    return list(Benchmark.model_validate(yaml.safe_load(benchmark.read_text())).spec.scenarios)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--benchmark", type=Path, required=True, help="a Benchmark manifest")
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--upload", help="s3://bucket/prefix/ to publish the directory to")
    parser.add_argument("--seed", type=int, default=TinyShape.seed)
    args = parser.parse_args(argv)
    out = build(load_scenarios(args.benchmark), args.out, TinyShape(seed=args.seed))
    print(f"wrote {out}", file=sys.stderr)
    if args.upload:
        from modelsmith.contract.objectstore import Store

        written = Store().publish_dir(out, args.upload)
        print(f"uploaded {len(written)} files to {args.upload}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
