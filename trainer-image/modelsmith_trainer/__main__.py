"""`python -m modelsmith_trainer --spec-json '{...}'` (or `--spec s3://...`, `--spec-file PATH`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from modelsmith.contract.jobspec import TrainSpec
from modelsmith.contract.objectstore import Store
from modelsmith_trainer import job, launch
from modelsmith_trainer.runtime import load_spec, parse_args, run_job


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, "modelsmith_trainer", "training")
    command = launch.launch_command(argv, os.environ)
    # The one object-store client of this process, handed to whatever reads or writes.
    store = Store()
    if command is None:
        return run_job("training", lambda: job.run(store, load_spec(store, args, TrainSpec)))

    # Several GPUs: the checks with their own exit codes run here, where the codes still reach
    # Kubernetes; the launched processes report through the termination message.
    def preflight() -> dict[str, Any]:
        job.read_inputs(store, load_spec(store, args, TrainSpec))
        return {}

    code = run_job("training preflight", preflight, report_success=False)
    return code or launch.relaunch(command, os.environ)


if __name__ == "__main__":
    sys.exit(main())
