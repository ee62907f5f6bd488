"""A container's environment and files as the kubelet would assemble them: env (literal values
with $(VAR) expansion, secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef), envFrom,
emptyDir / configMap / secret volumes, and a service-account kubeconfig in place of the token
volume (a local process cannot see /var/run/secrets)."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]
# Reads one object (kind, namespace, name) as JSON, or None if it does not exist.
Reader = Callable[[str, str, str], Json | None]

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """The container cannot start yet (the kubelet's CreateContainerConfigError): a referenced
    Secret or ConfigMap or one of its keys is missing. The kubelet retries; so do we."""


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names are replaced, unknown ones kept, $$ escapes."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, value)


def _data(obj: Json) -> dict[str, str]:
    """A Secret's or ConfigMap's entries as text."""
    out: dict[str, str] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(value).decode("utf-8", "replace")
        out.update(obj.get("stringData") or {})
    else:
        out.update(obj.get("data") or {})
        for key, value in (obj.get("binaryData") or {}).items():
            out[key] = base64.b64decode(value).decode("utf-8", "replace")
    return out


def _field(pod: Json, path: str) -> str:
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f"unsupported fieldRef {path!r}")


_SUFFIXES = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20,
             "Gi": 2**30, "Ti": 2**40}


def quantity(value: str) -> float:
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * _SUFFIXES[suffix]
    return float(value)


def _resource(container: Json, ref: Json) -> str:
    resource = ref["resource"]
    section, name = resource.split(".", 1)
    raw = ((container.get("resources") or {}).get(section) or {}).get(name)
    if raw is None:
        return "0"
    divisor = quantity(str(ref.get("divisor", "1")))
    # The kubelet rounds up to the divisor's unit.
    return str(math.ceil(quantity(str(raw)) / divisor))


def _lookup(read: Reader, kind: str, namespace: str, ref: Json) -> dict[str, str] | None:
    obj = read(kind, namespace, ref["name"])
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
    return _data(obj)


def environment(pod: Json, container: Json, read: Reader) -> dict[str, str]:
    """The variables the pod spec gives the container (without the node's own)."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            if key in source:
                data = _lookup(read, kind, namespace, source[key])
                for name, value in (data or {}).items():
                    env[prefix + name] = value
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value", ""), env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            env[name] = _field(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            env[name] = _resource(container, source["resourceFieldRef"])
        else:
            for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if key not in source:
                    continue
                ref = source[key]
                data = _lookup(read, kind, namespace, ref)
                if data is None:
                    break
                if ref["key"] not in data:
                    if ref.get("optional"):
                        break
                    raise ConfigError(
                        f'couldn\'t find key {ref["key"]} in {kind} {namespace}/{ref["name"]}'
                    )
                env[name] = data[ref["key"]]
    return env


def materialise_volumes(pod: Json, volumes_dir: Path, read: Reader) -> dict[str, Path]:
    """Creates each emptyDir, configMap and secret volume as a folder; returns name -> folder.
    Other volume kinds (the projected token volume among them) are left out."""
    namespace = pod["metadata"]["namespace"]
    made: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or []:
        folder = volumes_dir / volume["name"]
        if "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
        elif "configMap" in volume or "secret" in volume:
            kind, key, name_key = (
                ("ConfigMap", "configMap", "name") if "configMap" in volume
                else ("Secret", "secret", "secretName")
            )
            source = volume[key]
            data = _lookup(read, kind, namespace,
                           {"name": source[name_key], "optional": source.get("optional")})
            folder.mkdir(parents=True, exist_ok=True)
            items = source.get("items") or [{"key": k, "path": k} for k in data or {}]
            for item in items:
                if data is None or item["key"] not in data:
                    continue
                target = folder / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[item["key"]])
        else:
            continue
        made[volume["name"]] = folder
    return made


def volume_env(container: Json, volumes: Mapping[str, Path]) -> dict[str, str]:
    """MODELSMITH_VOLUME_<NAME> -> local folder, for each volume the container mounts: a local
    process cannot see the mountPath, so code that must find a volume reads this."""
    env = {}
    for mount in container.get("volumeMounts") or []:
        folder = volumes.get(mount["name"])
        if folder is not None:
            sub = mount.get("subPath")
            key = re.sub(r"[^A-Za-z0-9]", "_", mount["name"]).upper()
            env[f"MODELSMITH_VOLUME_{key}"] = str(folder / sub if sub else folder)
    return env


def wants_token(pod: Json) -> bool:
    """True when admission gave the pod a service-account token volume (automount is on)."""
    return any(
        "serviceAccountToken" in source
        for volume in pod["spec"].get("volumes") or []
        for source in (volume.get("projected") or {}).get("sources") or []
    )


def write_service_account(folder: Path, server: str, ca_cert: Path, namespace: str,
                          token: str) -> Path:
    """Writes token, ca.crt, namespace and a kubeconfig using them; returns the kubeconfig."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_bytes(ca_cert.read_bytes())
    (folder / "namespace").write_text(namespace)
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": {
            "server": server, "certificate-authority": str(folder / "ca.crt")}}],
        # Inline: every client reads `token`, not all read `tokenFile`; the API server extends
        # a token requested for 3607 s to a year, as it does for the kubelet's.
        "users": [{"name": "serviceaccount", "user": {"token": token}}],
        "contexts": [{"name": "default", "context": {
            "cluster": "cluster", "user": "serviceaccount", "namespace": namespace}}],
        "current-context": "default",
    }
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    return path

