"""`python -m modelsmith_evaluator --spec-json '{...}'` (or `--spec s3://…`, `--spec-file PATH`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from modelsmith.contract.jobspec import EvalSpec
from modelsmith.contract.objectstore import Store
from modelsmith_evaluator import job
from modelsmith_trainer.runtime import load_spec, parse_args, run_job


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, "modelsmith_evaluator", "evaluation")
    # The one object-store client of this process, handed to whatever reads or writes.
    store = Store()
    return run_job("evaluation", lambda: job.run(store, load_spec(store, args, EvalSpec)))


if __name__ == "__main__":
    sys.exit(main())
