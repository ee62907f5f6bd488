"""How `kubectl modelsmith` reaches the API server: a client for the chosen kubeconfig context
(impersonating when asked), objects validated leniently against the API models, and the API
server's own refusal messages."""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelsmith import VERSION

M = TypeVar("M", bound=BaseModel)


class PluginError(Exception):
    """Ends the command with a message (no traceback) and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _drop(data: Any, loc: Sequence[int | str]) -> bool:
    parent = data
    for key in loc[:-1]:
        in_dict = isinstance(parent, dict) and isinstance(key, str) and key in parent
        in_list = isinstance(parent, list) and isinstance(key, int) and 0 <= key < len(parent)
        if not (in_dict or in_list):
            return False
        parent = parent[key]
    last = loc[-1] if loc else None
    if isinstance(parent, dict) and isinstance(last, str) and last in parent:
        del parent[last]
        return True
    return False


def lenient(model: type[M], data: Any) -> M:
    """Validates `data` as `model`, ignoring fields this version of the plugin does not know (an
    operator newer than the plugin may write more); any other mismatch is an error."""
    data = copy.deepcopy(data)
    for _ in range(64):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            unknown = [e["loc"] for e in errors if e["type"] == "extra_forbidden"]
            if len(unknown) != len(errors) or not all(_drop(data, loc) for loc in unknown):
                raise
    return model.model_validate(data)


def load(model: type[M], obj: Any, what: str) -> M:
    try:
        return lenient(model, obj)
    except ValidationError as exc:
        raise PluginError(
            f"{what} does not match the modelsmith.io/{VERSION} API this plugin knows "
            f"(is the plugin older than the operator?):\n{exc}"
        ) from exc


def api_error_message(exc: Exception) -> str:
    """The API server's own message from a client error (admission and RBAC refusals say who
    was refused and why), or the error itself."""
    body = getattr(exc, "body", None)
    if body:
        try:
            decoded = json.loads(body)
        except (TypeError, ValueError):
            return str(body).strip()
        if isinstance(decoded, dict) and decoded.get("message"):
            return str(decoded["message"])
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if status is not None:
        return f"{status} {reason or ''}".strip()
    return str(exc)


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...]


class Session:
    """An API client for the chosen kubeconfig context, impersonating when asked."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kubernetes import config

        try:
            self.api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=args.kubeconfig, context=args.context
            )
            contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=args.kubeconfig
            )
        except (config.ConfigException, OSError) as exc:
            raise PluginError(f"cannot load the kubeconfig: {exc}") from exc
        chosen = next((c for c in contexts if c["name"] == args.context), current)
        self.namespace: str = args.namespace or (chosen or {}).get("context", {}).get(
            "namespace", "default"
        )
        if args.as_user:
            self.api.set_default_header("Impersonate-User", args.as_user)
        if args.as_group:
            if not args.as_user:
                raise PluginError("--as-group needs --as", code=2)
            self.api.set_default_header("Impersonate-Group", args.as_group)

    def _call(self, what: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One request through the operator's own `rest`, with this session's client; a
        refusal becomes a PluginError naming `what`."""
        # Imported here, not with the module: commands that never reach the API server
        # start without loading the kubernetes client.
        from kubernetes.client.exceptions import ApiException

        from modelsmith.runtime import kube

        # The plugin's only PATCH is a merge patch (approvals are annotations it adds).
        sent = kube.MERGE_PATCH if method == "PATCH" else "application/json"
        try:
            answer: dict[str, Any] = kube.rest(method, path, body, content_type=sent, api=self.api)
        except ApiException as exc:
            if exc.status == 404:
                raise PluginError(f"{what}: not found in namespace {self.namespace}") from exc
            raise PluginError(f"{what}: the API server refused: {api_error_message(exc)}") from exc
        return answer

    def _path(self, plural: str, name: str) -> str:
        from modelsmith.runtime import kube

        return kube.custom_path(plural, self.namespace, name)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self._call(f"{plural.removesuffix('s')} {name}", "GET", self._path(plural, name))

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of the object."""
        what = f"{plural.removesuffix('s')} {name}"
        return self._call(what, "PATCH", self._path(plural, name), body)

    def whoami(self) -> Identity:
        """The user the API server authenticates this session as (after impersonation)."""
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
        answer = self._call("SelfSubjectReview", "POST", path, review)
        info = (answer.get("status") or {}).get("userInfo") or {}
        username = info.get("username")
        if not username:
            raise PluginError("the API server did not say who you are (SelfSubjectReview)")
        return Identity(str(username), tuple(str(g) for g in info.get("groups") or ()))
