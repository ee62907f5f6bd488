"""The test bed's PKI: one CA, the API server's serving certificate, a client certificate per
identity, and the service-account signing key.

Keys are ECDSA P-256: generating a dozen RSA keys costs seconds on a small machine, ECDSA costs
milliseconds, and every Kubernetes component accepts both.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)

# The service network's first address is the `kubernetes` Service's cluster IP; in-cluster
# clients may dial it, so the serving certificate names it.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"


@dataclass(frozen=True)
class Identity:
    """A client identity: the certificate's CN is the user name, each O a group."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


def user_identities() -> tuple[Identity, ...]:
    """The people tests act as; contracts.md names them and their groups."""
    return (
        Identity("admin", "admin", ("system:masters",)),
        Identity("alice", "alice", ("domain-owners",)),
        Identity("bob", "bob", ("engineering-owners",)),
        Identity("carol", "carol", ("compliance",)),
        Identity("mallory", "mallory"),
    )


def component_identities(node_name: str) -> tuple[Identity, ...]:
    """The control plane's own identities, named as the bootstrap RBAC policy expects them."""
    return (
        Identity("kube-controller-manager", "system:kube-controller-manager"),
        Identity("kube-scheduler", "system:kube-scheduler"),
        Identity("node", f"system:node:{node_name}", ("system:nodes",)),
        # The API server presents this one when it fetches logs from the node agent.
        Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                 ("system:masters",)),
        # The API server presents this one to aggregated API servers (request-header auth).
        Identity("front-proxy-client", "front-proxy-client"),
        # Kueue's manager (testbed/kueue.py), when a test starts it. Kueue's own RBAC is Kueue's
        # business, not what the test bed proves.
        Identity("kueue", "system:kueue", ("system:masters",)),
        # JobSet's manager (testbed/jobset.py) likewise.
        Identity("jobset", "system:jobset", ("system:masters",)),
    )


@dataclass(frozen=True)
class Pki:
    """Paths of the generated material, all inside one folder."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.dir / "serving.crt"

    @property
    def serving_key(self) -> Path:
        return self.dir / "serving.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def client_cert(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def client_key(self, name: str) -> Path:
        return self.dir / f"{name}.key"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organisations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organisations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             ) -> x509.CertificateBuilder:
    # Backdated a little so a clock a few seconds behind still accepts a fresh certificate.
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    # A CA signs certificates and revocation lists; a leaf signs handshakes.
    return x509.KeyUsage(
        digital_signature=True, key_encipherment=not ca, content_commitment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )


def _issue(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, subject: x509.Name,
           usage: list[x509.ObjectIdentifier], sans: list[x509.GeneralName] | None = None,
           ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def generate(directory: Path, node_name: str) -> Pki:
    """Writes the whole PKI into `directory` unless it is already there, and returns its paths."""
    pki = Pki(directory)
    identities = user_identities() + component_identities(node_name)
    if (directory / ".complete").exists() and all(
        pki.client_cert(i.name).exists() for i in identities
    ):
        return pki
    directory.mkdir(parents=True, exist_ok=True)

    ca_key = _new_key()
    ca_subject = _name("modelsmith-testbed-ca")
    ca_cert = (
        _builder(ca_subject, ca_subject, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(ca_key, pki.ca_key)
    _write_cert(ca_cert, pki.ca_cert)

    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(KUBERNETES_SERVICE_IP)),
    ]
    key, cert = _issue(ca_key, ca_cert, _name("kube-apiserver"),
                       [ExtendedKeyUsageOID.SERVER_AUTH], sans)
    _write_key(key, pki.serving_key)
    _write_cert(cert, pki.serving_cert)

    for identity in identities:
        key, cert = _issue(ca_key, ca_cert, _name(identity.user, identity.groups),
                           [ExtendedKeyUsageOID.CLIENT_AUTH])
        _write_key(key, pki.client_key(identity.name))
        _write_cert(cert, pki.client_cert(identity.name))

    sa_key = _new_key()
    _write_key(sa_key, pki.sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (directory / ".complete").touch()
    return pki


def issue_serving_cert(pki: Pki, name: str, out_cert: Path, out_key: Path) -> None:
    """A serving certificate for 127.0.0.1 signed by the test bed's CA (the node agent's)."""
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{pki.ca_key} is not an ECDSA key")
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName(name),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    key, cert = _issue(ca_key, ca_cert, _name(name), [ExtendedKeyUsageOID.SERVER_AUTH], sans)
    _write_key(key, out_key)
    _write_cert(cert, out_cert)
