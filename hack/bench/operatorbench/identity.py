"""A distinct API identity per benchmarked operator, so the API server can tell its requests from
everyone else's: the audit log names the user on every write, and a FlowSchema matching that user
gives it its own series in `apiserver_flowcontrol_dispatched_requests_total` (reads included),
which `apiserver_request_total` cannot (it has no client label).

The identity is a client certificate signed by the test bed's CA (CN = user, no groups) bound to
cluster-admin, and its FlowSchema routes it to the `exempt` priority level, where `admin`
(system:masters) would be: the operator is neither throttled nor favoured by the change."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client

from testbed.cluster import Cluster

FLOW_PRECEDENCE = 50  # after `exempt` and `probes`, before every system flow


def flow_schema_name(user: str) -> str:
    return f"bench-{user}"


def create(cluster: Cluster, user: str) -> Path:
    """Issues `user`'s certificate, grants it cluster-admin, gives it a FlowSchema, and returns
    a kubeconfig for it."""
    directory = cluster.run_dir / "bench" / user
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "client.crt", directory / "client.key"
    _issue(cluster, user, cert_path, key_path)
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_kubeconfig(cluster, user, cert_path, key_path)))
    api = cluster.api_client()
    _bind_cluster_admin(api, user)
    _flow_schema(api, user)
    return kubeconfig


def _kubeconfig(cluster: Cluster, user: str, cert_path: Path, key_path: Path) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testbed",
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority": str(cluster.pki.ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(cert_path), "client-key": str(key_path)},
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "testbed", "user": user}}],
        "current-context": user,
    }


def _bind_cluster_admin(api: client.ApiClient, user: str) -> None:
    # Manifests as plain dicts, which the client sends unchanged (its methods name model types).
    rbac: Any = client.RbacAuthorizationV1Api(api)
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"bench-{user}"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    _create_or_replace(
        lambda: rbac.create_cluster_role_binding(binding),
        lambda: rbac.replace_cluster_role_binding(binding["metadata"]["name"], binding),
    )


def _flow_schema(api: client.ApiClient, user: str) -> None:
    """Routes `user`'s requests to the `exempt` priority level under a FlowSchema of its own,
    which gives the identity its own request counters."""
    flow: Any = client.FlowcontrolApiserverV1Api(api)
    schema: dict[str, Any] = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": flow_schema_name(user)},
        "spec": {
            "matchingPrecedence": FLOW_PRECEDENCE,
            "priorityLevelConfiguration": {"name": "exempt"},
            "rules": [
                {
                    "subjects": [{"kind": "User", "user": {"name": user}}],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "clusterScope": True,
                            "namespaces": ["*"],
                        }
                    ],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }
            ],
        },
    }
    _create_or_replace(
        lambda: flow.create_flow_schema(schema),
        lambda: flow.patch_flow_schema(schema["metadata"]["name"], {"spec": schema["spec"]}),
    )


def _create_or_replace(create: Any, replace: Any) -> None:
    try:
        create()
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        replace()


def _issue(cluster: Cluster, user: str, cert_path: Path, key_path: Path) -> None:
    ca_key = serialization.load_pem_private_key(cluster.pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{cluster.pki.ca_key} is not an ECDSA key")
    ca_cert = x509.load_pem_x509_certificate(cluster.pki.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
