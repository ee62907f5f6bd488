"""A pod's writes to the API server, made as the kubelet's status manager makes them: an API
server that is down, restarting or overloaded delays a status post or the pod's finalisation,
it never loses them. The latest status is posted on the worker's next tick once a back-off has
passed; a terminal status (and the deletion that finalises a pod) is retried until the API
server takes it or the pod is gone. Losing either would leave the pod Running in the API with
nobody left to report it: the worker has ended and the agent never runs a pod twice.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time

import urllib3
from kubernetes import client

from testbed.kube import Json

log = logging.getLogger("testbed.nodeagent")
RETRY_START = 0.5
RETRY_MAX = 5.0
UNANSWERED: tuple[type[Exception], ...] = (OSError, urllib3.exceptions.HTTPError)
"""What the client raises when no answer came: for a refused or broken connection it raises
urllib3's own errors (MaxRetryError, ProtocolError), which are not OSErrors."""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodEndedError(Exception):
    """The worker is done with its pod (finished, failed, deleted or gone)."""


def transient(error: Exception) -> bool:
    """The API server could not answer (down, restarting, overloaded), as opposed to refusing:
    worth retrying."""
    if isinstance(error, client.ApiException):
        return error.status in (0, 429) or error.status >= 500
    return isinstance(error, UNANSWERED)


class PodStatusWriter:
    """One pod's status posts and finalisation; `gone` is set when the pod object is deleted."""

    def __init__(self, core: client.CoreV1Api, namespace: str, name: str, uid: str,
                 gone: threading.Event) -> None:
        self.core = core
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.gone = gone
        self.posted: Json | None = None
        self.transitions: dict[str, tuple[str, str]] = {}
        self.retry_at = 0.0
        self.backoff = RETRY_START
        self.failing = False

    def condition(self, kind: str, ok: bool, reason: str | None = None) -> Json:
        """A pod condition whose lastTransitionTime moves only when its status changes."""
        status = "True" if ok else "False"
        previous = self.transitions.get(kind)
        if previous is None or previous[0] != status:
            self.transitions[kind] = (status, now())
        return {"type": kind, "status": status, "lastTransitionTime": self.transitions[kind][1],
                "lastProbeTime": None, "reason": reason if not ok else None}

    def post(self, status: Json) -> bool:
        """Posts `status` unless it is posted already or a failed post's back-off has not
        passed; True once the API server has it. Raises PodEndedError when the pod is gone."""
        if status == self.posted:
            return True
        if time.monotonic() < self.retry_at:
            return False
        try:
            self.core.patch_namespaced_pod_status(
                self.name, self.namespace, {"status": status},
                _content_type="application/strategic-merge-patch+json")
        except Exception as e:
            if isinstance(e, client.ApiException) and e.status == 404:
                self.gone.set()
                raise PodEndedError from e
            if not transient(e):
                raise
            self._failed(e)
            return False
        self.posted = status
        self._recovered()
        return True

    def post_final(self, status: Json) -> None:
        """Posts a terminal status, retrying until the API server has it or the pod is gone."""
        while not self.post(status):
            if self.gone.wait(max(0.0, self.retry_at - time.monotonic())):
                raise PodEndedError

    def finalise(self) -> None:
        """Deletes the pod with grace period 0 (this pod only: a UID precondition), retrying
        through outages until it is gone; the API server's refusals end the attempt."""
        options = client.V1DeleteOptions(grace_period_seconds=0,
                                         preconditions=client.V1Preconditions(uid=self.uid))
        while not self.gone.is_set():
            try:
                self.core.delete_namespaced_pod(self.name, self.namespace, body=options)
                self._recovered()
                return
            except client.ApiException as e:
                if not transient(e):
                    return
                self._failed(e)
            except UNANSWERED as e:
                self._failed(e)
            self.gone.wait(max(0.0, self.retry_at - time.monotonic()))

    def _failed(self, error: Exception) -> None:
        if not self.failing:
            log.warning("pod %s/%s: API request failed, retrying: %s", self.namespace, self.name,
                        getattr(error, "reason", None) or error)
        self.failing = True
        self.retry_at = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, RETRY_MAX)

    def _recovered(self) -> None:
        if self.failing:
            log.info("pod %s/%s: API requests succeed again", self.namespace, self.name)
        self.failing = False
        self.backoff = RETRY_START
        self.retry_at = 0.0
