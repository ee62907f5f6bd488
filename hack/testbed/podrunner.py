"""One pod's life on the test bed's node, as the kubelet would live it: init containers one after
another, then the containers, each a local process group; restarts per restartPolicy with a
back-off; activeDeadlineSeconds; termination messages; status posted to the API server, through
its outages (`testbed.podstatus`); on deletion the processes are killed and the pod is finalised
(deleted with grace period 0).

One container's process, restarts and termination message: `testbed.containers`. What the
node gives a pod before it starts (base environment, service-account kubeconfig):
`testbed.podsetup`. Image -> command mapping: `testbed.images`. Environment and volumes:
`testbed.podenv`. Host names: `testbed.podnet`.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from testbed import images, podenv, podnet, procs
from testbed.containers import ContainerRun, kill_group
from testbed.kube import Json
from testbed.podsetup import NodeContext, node_env
from testbed.podstatus import PodEndedError, PodStatusWriter, now, transient

log = logging.getLogger("testbed.nodeagent")
DEFAULT_GRACE = 30.0
POLL = 0.1


def _parse_time(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class PodWorker:
    """Lives one pod on its own thread."""

    def __init__(self, node: NodeContext, pod: Json, on_exit: Callable[[str], None]) -> None:
        meta = pod["metadata"]
        self.thread = threading.Thread(target=self.run, daemon=True,
                                       name=f"pod-{meta['namespace']}/{meta['name']}")
        self.node = node
        self.pod = pod
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.pod_name: str = meta["name"]
        self.pod_dir = node.run_dir / "pods" / self.namespace / self.pod_name
        self.on_exit = on_exit
        self.wake = threading.Event()
        self.gone = threading.Event()  # the pod object no longer exists
        self.init_runs: list[ContainerRun] = []
        self.main_runs: list[ContainerRun] = []
        self.start_time = now()
        self.status = PodStatusWriter(node.core, self.namespace, self.pod_name, self.uid,
                                      self.gone)
        self.base_env: dict[str, str] = {}
        self.volumes: dict[str, Path] = {}
        self.lock = threading.Lock()

    # ----- called by the agent's watch -----------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def update(self, pod: Json) -> None:
        with self.lock:
            self.pod = pod
        self.wake.set()

    def vanish(self) -> None:
        self.gone.set()
        self.wake.set()

    def container(self, name: str) -> ContainerRun | None:
        for run in self.init_runs + self.main_runs:
            if run.name == name:
                return run
        return None

    def kill_all(self, grace: float) -> None:
        for run in self.init_runs + self.main_runs:
            self._kill(run, grace)

    # ----- the pod's life --------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._live()
        except PodEndedError:
            pass
        except Exception as e:
            log.exception("pod %s/%s: node agent error", self.namespace, self.pod_name)
            with contextlib.suppress(Exception):
                self.kill_all(0)
                self._finish("Failed", "NodeAgentError", f"test bed node agent error: {e}")
        finally:
            self.kill_all(0)
            self.on_exit(self.uid)

    @property
    def spec(self) -> Json:
        with self.lock:
            spec: Json = self.pod["spec"]
            return spec

    @property
    def restart_policy(self) -> str:
        return str(self.spec.get("restartPolicy", "Always"))

    def _live(self) -> None:
        if self.pod_dir.exists():
            shutil.rmtree(self.pod_dir, ignore_errors=True)
        (self.pod_dir / "termination").mkdir(parents=True)
        (self.pod_dir / "home").mkdir()
        (self.pod_dir / "tmp").mkdir()
        (self.pod_dir / "uid").write_text(self.uid)
        self.init_runs = [ContainerRun(c, True, self.pod_dir)
                          for c in self.spec.get("initContainers") or []]
        self.main_runs = [ContainerRun(c, False, self.pod_dir) for c in self.spec["containers"]]
        for run in self.main_runs:
            run.state = {"waiting": {"reason": "PodInitializing"}} if self.init_runs else run.state
        previous = self.pod.get("status") or {}
        if previous.get("startTime") and previous.get("phase") == "Running":
            # A node agent restart loses the processes it ran, as a machine reboot would.
            self.start_time = previous["startTime"]
            if self.restart_policy == "Never":
                self._finish("Failed", "NodeAgentRestarted",
                             "the test bed's node agent restarted and lost the pod's processes")
        self._post()

        self._prepare()
        for run in self.init_runs:
            self._drive([run])
        self._drive(self.main_runs)

    def _prepare(self) -> None:
        """Volumes and the service-account kubeconfig; retried while a reference is missing
        or the API server cannot answer."""
        while True:
            self._check_interruptions()
            try:
                self.volumes = podenv.materialise_volumes(self.pod, self.pod_dir / "volumes",
                                                          self.node.read)
                self.base_env = node_env(self.node, self.pod, self.pod_dir)
                return
            except podenv.ConfigError as e:
                for run in self.init_runs + self.main_runs:
                    run.state = {"waiting": {"reason": "CreateContainerConfigError",
                                             "message": str(e)}}
            except Exception as e:
                if not transient(e):
                    raise
                log.warning("pod %s/%s: preparing waits for the API server: %s",
                            self.namespace, self.pod_name, e)
            self._post()
            self.wake.wait(1.0)
            self.wake.clear()

    def _drive(self, runs: list[ContainerRun]) -> None:
        """Runs `runs` until each is done, restarting per policy; returns when all are done and
        the pod goes on, raises PodEndedError when the pod ended."""
        while True:
            self._check_interruptions()
            for run in runs:
                if run.proc is not None and run.proc.poll() is not None:
                    self._on_exit(run)
                if not run.done and run.proc is None and time.monotonic() >= run.next_start:
                    self._start(run)
            if all(run.done for run in runs):
                if any(r.init for r in runs):
                    return
                failed = any(r.state["terminated"]["exitCode"] != 0 for r in runs)
                self._finish("Failed" if failed else "Succeeded")
            self._post()
            self.wake.wait(POLL)
            self.wake.clear()

    def _check_interruptions(self) -> None:
        if self.gone.is_set():
            self.kill_all(0)
            raise PodEndedError
        with self.lock:
            meta = self.pod["metadata"]
        if meta.get("deletionTimestamp"):
            grace = float(meta.get("deletionGracePeriodSeconds") or DEFAULT_GRACE)
            self.kill_all(grace)
            all_ok = all(r.done and r.state["terminated"]["exitCode"] == 0
                         for r in self.init_runs + self.main_runs)
            self._finish("Succeeded" if all_ok and self.main_runs else "Failed",
                         finalise=True)
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline is not None and time.time() > _parse_time(self.start_time) + float(deadline):
            self.kill_all(0)
            self._finish("Failed", "DeadlineExceeded",
                         "Pod was active on the node longer than the specified deadline")

    def _start(self, run: ContainerRun) -> None:
        spec = run.spec
        try:
            env = dict(self.base_env)
            env.update(podenv.environment(self.pod, spec, self.node.read))
            env.update(podenv.volume_env(spec, self.volumes))
            env["MODELSMITH_TERMINATION_LOG"] = str(run.termination_path)
            command = [podenv.expand(a, env) for a in spec.get("command") or []]
            args = [podenv.expand(a, env) for a in spec.get("args") or []]
            argv = podnet.wrap(images.argv_for(spec.get("image", ""), command, args, env["PATH"]),
                               self.pod, self.node.hosts)
        except podenv.ConfigError as e:
            run.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
            run.next_start = time.monotonic() + 1.0
            return
        except images.UnknownImageError as e:
            run.pull_failed(str(e))
            return
        except images.CommandNotFoundError as e:
            run.started_at = now()
            self._terminated(run, 128, "StartError", str(e))
            return
        except Exception as e:  # a Secret or ConfigMap read while the API server is away
            if not transient(e):
                raise
            run.next_start = time.monotonic() + 1.0
            return
        run.termination_path.unlink(missing_ok=True)
        cwd = spec.get("workingDir")
        with run.log_path.open("ab") as out:
            run.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                cwd=cwd if cwd and Path(cwd).is_dir() else self.pod_dir, start_new_session=True,
            )
        procs.record(self.node.run_dir, self._pid_name(run), run.proc.pid)
        run.started_at = now()
        run.state = {"running": {"startedAt": run.started_at}}
        log.info("pod %s/%s: started %s (pid %d): %s", self.namespace, self.pod_name, run.name,
                 run.proc.pid, argv)

    def _pid_name(self, run: ContainerRun) -> str:
        return f"pods/{self.uid}-{run.name}"

    def _on_exit(self, run: ContainerRun, killed: bool = False) -> None:
        assert run.proc is not None
        code = run.proc.returncode
        # The kubelet ends the container's cgroup with its main process; the process group is
        # our cgroup.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.proc.pid, signal.SIGKILL)
        procs.forget(self.node.run_dir, self._pid_name(run))
        run.proc = None
        exit_code = 128 - code if code < 0 else code
        reason = "Completed" if exit_code == 0 else "Error"
        self._terminated(run, exit_code, reason, run.termination_message(exit_code),
                         killed)

    def _terminated(self, run: ContainerRun, exit_code: int, reason: str, message: str,
                    killed: bool = False) -> None:
        """Records the exit; restarts per policy unless the node killed it for the pod's sake."""
        terminated: Json = {"exitCode": exit_code, "reason": reason,
                            "startedAt": run.started_at, "finishedAt": now()}
        if message:
            terminated["message"] = message
        run.state = {"terminated": terminated}
        restart = run.restarts(self.restart_policy, exit_code) and not killed
        log.info("pod %s/%s: %s exited %d%s", self.namespace, self.pod_name, run.name,
                 exit_code, " (will restart)" if restart else "")
        if not restart:
            run.done = True
            if run.init and exit_code != 0 and not killed:
                self._finish("Failed")
            return
        run.back_off()

    def _kill(self, run: ContainerRun, grace: float) -> None:
        if run.proc is None:
            return
        kill_group(run.proc, grace)
        self._on_exit(run, killed=True)

    # ----- status ----------------------------------------------------------------------------

    def _finish(self, phase: str, reason: str | None = None, message: str | None = None,
                finalise: bool = False) -> None:
        """Posts the terminal status and ends the worker; on deletion also finalises the pod."""
        for run in self.init_runs + self.main_runs:
            run.end()
        self.status.post_final(self._pod_status(phase, reason=reason, message=message))
        if finalise:
            self.status.finalise()
        raise PodEndedError

    def _post(self) -> None:
        """Posts the current status if it changed; an API server that cannot take it now gets
        it on a later tick (see `testbed.podstatus`)."""
        self.status.post(self._pod_status())

    def _pod_status(self, terminal_phase: str | None = None, reason: str | None = None,
                    message: str | None = None) -> Json:
        terminal = terminal_phase is not None
        if terminal_phase is None:
            started = any(r.started_at for r in self.main_runs)
            phase = "Running" if started else "Pending"
        else:
            phase = terminal_phase
        initialised = all(r.done for r in self.init_runs)
        ready = (not terminal and bool(self.main_runs)
                 and all(r.running for r in self.main_runs))
        not_ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
        condition = self.status.condition
        status: Json = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "reason": reason,
            "message": message,
            "conditions": [
                condition("PodReadyToStartContainers", not terminal,
                          "PodCompleted" if terminal else None),
                condition("Initialized", initialised, "ContainersNotInitialized"),
                condition("ContainersReady", ready, not_ready_reason),
                condition("Ready", ready, not_ready_reason),
            ],
            "containerStatuses": [r.status() for r in self.main_runs],
        }
        if self.init_runs:
            status["initContainerStatuses"] = [r.status() for r in self.init_runs]
        return status
