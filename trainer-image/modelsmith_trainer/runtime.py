"""What every Job entry point shares (the evaluator imports it too): reading the spec, turning
failures into the contract's exit codes, the termination message, and CPU thread settings.

Heavy imports (torch, transformers) stay out of this module: a Job that fails on its inputs
fails in a second, before loading a model."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelsmith.contract import s3, storecredential
from modelsmith.contract.exitcodes import ExitCode
from modelsmith.contract.jobspec import TERMINATION_LOG_LIMIT, Termination
from modelsmith.contract.objectstore import Store

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
SpecT = TypeVar("SpecT", bound=BaseModel)
log = logging.getLogger("modelsmith.job")


class JobFailure(Exception):  # noqa: N818 - it is the Job's outcome, not a programming error
    """A failure the contract names: exits with `code`. The message goes to the termination
    message, so it names what is wrong without quoting data, keys or paths."""

    def __init__(
        self,
        code: ExitCode,
        message: str,
        *,
        contaminated: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.contaminated = contaminated
        self.details = details or {}


def parse_args(argv: Sequence[str] | None, prog: str, what: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=f"Modelsmith {what} Job.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--spec-json", help="the spec JSON document itself (what the operator passes)"
    )
    source.add_argument("--spec", help="s3:// URI of a spec JSON object")
    source.add_argument("--spec-file", type=Path, help="a local spec JSON file")
    return parser.parse_args(argv)


def load_spec(store: Store, args: argparse.Namespace, model: type[SpecT]) -> SpecT:
    if args.spec_json is not None:
        raw = args.spec_json.encode("utf-8")
    elif args.spec_file is not None:
        try:
            raw = Path(args.spec_file).read_bytes()
        except OSError as err:
            raise JobFailure(
                ExitCode.BAD_SPEC, f"cannot read the spec file ({err.strerror})"
            ) from None
    else:
        try:
            raw = store.get_bytes(args.spec)
        except s3.InvalidUri as err:
            raise JobFailure(ExitCode.BAD_SPEC, f"--spec: {err}") from None
        except s3.ObjectNotFound:
            raise JobFailure(ExitCode.BAD_SPEC, "the spec object does not exist") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        raise JobFailure(ExitCode.BAD_SPEC, f"the spec is invalid: {_fields(err)}") from None


def _fields(err: ValidationError) -> str:
    """Which fields are wrong and how, without echoing their values."""
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in err.errors()
    ]
    return "; ".join(parts[:5]) + (f" (and {len(parts) - 5} more)" if len(parts) > 5 else "")


def termination_path() -> Path:
    return Path(os.environ.get("MODELSMITH_TERMINATION_LOG", DEFAULT_TERMINATION_LOG))


def encode_termination(message: Termination, limit: int = TERMINATION_LOG_LIMIT) -> bytes:
    """The message as compact JSON within `limit` bytes: details are dropped largest first,
    then the text is cut, so what is left always parses."""
    doc = message.model_dump(mode="json")
    data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    details: dict[str, Any] = doc["details"]
    while len(data) > limit and details:
        largest = max(details, key=lambda k: len(json.dumps(details[k])))
        del details[largest]
        doc["details_truncated"] = True
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    if len(data) > limit:
        excess = len(data) - limit + 3
        doc["message"] = doc["message"][: max(0, len(doc["message"]) - excess)] + "..."
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return data


def write_termination(message: Termination) -> None:
    if not is_main_process():
        return
    path = termination_path()
    try:
        path.write_bytes(encode_termination(message))
    except OSError as err:
        # Outside Kubernetes there may be no termination log; the exit code still tells.
        log.warning("could not write the termination message (%s)", err.strerror)


def is_main_process() -> bool:
    """False in the second and later processes of an `accelerate launch`: only the first one
    speaks for the Job."""
    return os.environ.get("RANK", "0") == "0"


def run_job(name: str, body: Callable[[], dict[str, Any]], *, report_success: bool = True) -> int:
    """Runs a Job's body and maps its outcome to an exit code and a termination message. The
    body returns the success summary (kept under 4 KB by `encode_termination`)."""
    logging.basicConfig(
        level=os.environ.get("MODELSMITH_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Idle math threads sleep instead of spinning: a spinning pool steals the time slices the
    # working threads need whenever the node is busier than the pod's share. OpenMP reads it
    # once, when torch is first imported, which is after this.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    began = time.monotonic()
    try:
        # Before anything is read or written with keys the operator may not have minted.
        if refused := storecredential.refusal(os.environ):
            raise JobFailure(ExitCode.FOREIGN_CREDENTIAL, refused)
        summary = body()
    except JobFailure as failure:
        log.error("%s failed: %s (%s)", name, failure.message, failure.code.reason)
        _finish(failure.code, failure.message, failure.contaminated, failure.details)
        return int(failure.code)
    except s3.ObjectStoreUnavailable as err:
        log.error("%s failed: %s", name, err)
        _finish(ExitCode.OBJECT_STORE_UNAVAILABLE, str(err))
        return int(ExitCode.OBJECT_STORE_UNAVAILABLE)
    except s3.ObjectStoreError as err:
        log.error("%s failed: %s", name, err)
        _finish(ExitCode.UNEXPECTED, f"object store error: {err}")
        return int(ExitCode.UNEXPECTED)
    except Exception as err:
        # The traceback stays in the pod log (inside the boundary); the termination message
        # names only the exception type.
        traceback.print_exc()
        _finish(ExitCode.UNEXPECTED, f"unexpected {type(err).__name__}")
        return int(ExitCode.UNEXPECTED)
    summary.setdefault("seconds", round(time.monotonic() - began, 3))
    # What the body wrote, by digest: the operator verifies what it reads back against these.
    digests = summary.pop("digests", None) or {}
    if report_success:
        write_termination(
            Termination(
                status="succeeded",
                exit_code=0,
                reason=ExitCode.OK.reason,
                details=summary,
                digests=digests,
            )
        )
    log.info("%s succeeded in %.1fs", name, time.monotonic() - began)
    return 0


def _finish(
    code: ExitCode,
    message: str,
    contaminated: bool = False,
    details: dict[str, Any] | None = None,
) -> None:
    write_termination(
        Termination(
            status="failed",
            exit_code=int(code),
            reason=code.reason,
            message=message,
            contaminated=contaminated,
            details=details or {},
        )
    )


def cpu_threads(env: Mapping[str, str] | None = None, quota: int | None = None) -> int:
    """Threads for CPU math: MODELSMITH_TORCH_THREADS if set, else the CPUs this process may
    use, capped by the container's CPU quota and by its CPU request (MODELSMITH_CPU_REQUEST,
    whole cores, e.g. from the Downward API). A pod given one core on a 64-core node must not
    run 64 threads: they would fight over one core's worth of time, and on a busy node
    oversubscribed math threads are several times slower than one. Several training processes
    on one node (torchrun's LOCAL_WORLD_SIZE) split those CPUs between them."""
    env = os.environ if env is None else env
    if env.get("MODELSMITH_TORCH_THREADS"):
        return max(1, int(env["MODELSMITH_TORCH_THREADS"]))
    limits = [len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1]
    quota = cgroup_cpu_quota() if quota is None else quota
    if quota:
        limits.append(quota)
    request = env.get("MODELSMITH_CPU_REQUEST", "")
    if request.isdigit() and int(request) > 0:
        limits.append(int(request))
    return max(1, min(limits) // local_processes(env))


def local_processes(env: Mapping[str, str]) -> int:
    """Processes on this node that share its CPUs (torchrun's LOCAL_WORLD_SIZE), at least 1."""
    value = env.get("LOCAL_WORLD_SIZE", "")
    return max(1, int(value)) if value.isdigit() else 1


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs the cgroup may use (cgroup v2 cpu.max, rounded up), or None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def configure_torch_threads() -> int:
    import torch

    threads = cpu_threads()
    torch.set_num_threads(threads)
    # Only the first call in a process may set it.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return threads
