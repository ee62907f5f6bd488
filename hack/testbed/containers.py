"""One container on the test bed's node, as the kubelet keeps it: its process (a local process
group), the state it reports, restarts with a back-off, image pull failures and its termination
message. The pod's life that drives it is `testbed.podrunner`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed import images
from testbed.kube import Json
from testbed.podstatus import now
from testbed.waiting import tail

TERMINATION_MESSAGE_LIMIT = 4096
# FallbackToLogsOnError takes the log's last 80 lines or 2048 bytes, whichever is less.
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048
BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
PULL_RETRY = 5.0  # the first pull retry; later ones wait BACKOFF_MAX


@dataclass
class ContainerRun:
    spec: Json
    init: bool
    pod_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    state: Json = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Json = field(default_factory=dict)
    restart_count: int = 0
    next_start: float = 0.0
    backoff: float = BACKOFF_START
    started_at: str | None = None
    done: bool = False  # terminated and not to be restarted

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def log_path(self) -> Path:
        return self.pod_dir / f"{self.name}.log"

    @property
    def termination_path(self) -> Path:
        return self.pod_dir / "termination" / self.name

    @property
    def running(self) -> bool:
        return self.proc is not None

    def status(self) -> Json:
        # Strategic merge would keep a previous state key beside the new one; null removes it.
        state: Json = {"waiting": None, "running": None, "terminated": None, **self.state}
        last: Json = {"waiting": None, "running": None, "terminated": None, **self.last_state}
        return {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": f"testbed://{images.repository(self.spec.get('image', ''))}",
            "containerID": f"testbed://{self.pod_dir.name}-{self.name}-{self.restart_count}",
            "ready": self.running and not self.init,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": last if self.last_state else {},
        }

    def pull_failed(self, message: str) -> None:
        """The image cannot be had. As the kubelet does, whatever the restart policy: the pod
        stays Pending and keeps trying, ErrImagePull on the first failure and ImagePullBackOff
        between tries, until the pod is deleted or its activeDeadlineSeconds passes. Whoever
        owns the pod has to notice; failing it here would hide that duty."""
        waiting = (self.state.get("waiting") or {}).get("reason")
        if waiting in ("ErrImagePull", "ImagePullBackOff"):
            image = self.spec.get("image", "")
            self.state = {"waiting": {"reason": "ImagePullBackOff",
                                      "message": f'Back-off pulling image "{image}": {message}'}}
            self.next_start = time.monotonic() + BACKOFF_MAX
        else:
            self.state = {"waiting": {"reason": "ErrImagePull", "message": message}}
            self.next_start = time.monotonic() + PULL_RETRY

    def restarts(self, policy: str, exit_code: int) -> bool:
        """Whether the pod's restartPolicy starts the container again after this exit (an init
        container restarts only after a failure, and never under Never)."""
        if self.init:
            return policy != "Never" and exit_code != 0
        return policy == "Always" or (policy == "OnFailure" and exit_code != 0)

    def back_off(self) -> None:
        """Waits before the next start, twice as long each time up to BACKOFF_MAX."""
        self.last_state = self.state
        self.restart_count += 1
        self.state = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                  f"back-off {self.backoff:.0f}s restarting failed container"}}
        self.next_start = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def end(self) -> None:
        """The pod ended: the container will not start again, and one that never terminated
        reports why it did not complete."""
        self.done = True
        if "terminated" in self.state:
            return
        waiting = self.state.get("waiting") or {}
        self.state = {"terminated": {
            "exitCode": 137 if self.started_at else 0,
            "reason": waiting.get("reason") or ("Error" if self.started_at else
                                                "ContainerStatusUnknown"),
            "message": waiting.get("message") or "container did not complete",
            "finishedAt": now(),
            **({"startedAt": self.started_at} if self.started_at else {}),
        }}

    def termination_message(self, exit_code: int) -> str:
        try:
            with self.termination_path.open("rb") as f:
                message = f.read(TERMINATION_MESSAGE_LIMIT).decode("utf-8", "replace")
        except OSError:
            message = ""
        if not message and exit_code != 0 and (
            self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            message = tail(self.log_path, FALLBACK_LINES)[-FALLBACK_BYTES:]
        return message


def kill_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Stops the process group: SIGTERM and `grace` seconds to exit, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    try:
        proc.wait(timeout=grace if grace > 0 else 5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
