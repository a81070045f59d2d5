"""Emulated pulumi-tls and pulumi-random for the mock engine, and the table of what remote
commands print. Keys, certificates and passwords are real (made with `cryptography`), so the files
a plan renders work: the broker files start a real mosquitto, the certificates verify.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import secrets
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _pem_private(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _tls_private_key(inputs: dict) -> dict:
    algorithm = inputs.get("algorithm", "RSA")
    if algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ECDSA":
        curve = {"P256": ec.SECP256R1(), "P384": ec.SECP384R1()}[inputs.get("ecdsaCurve", "P224")]
        key = ec.generate_private_key(curve)
    else:
        key = rsa.generate_private_key(65537, int(inputs.get("rsaBits", 2048)))
    public = key.public_key()
    return {
        "privateKeyPem": _pem_private(key), "privateKeyPemPkcs8": _pem_private(key),
        "privateKeyOpenssh": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()).decode(),
        "publicKeyPem": public.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        "publicKeyOpenssh": public.public_bytes(serialization.Encoding.OpenSSH,
                                                serialization.PublicFormat.OpenSSH).decode() + "\n",
    }


def _subject(inputs: dict) -> x509.Name:
    subject = inputs.get("subject") or {}
    parts = [(NameOID.COMMON_NAME, subject.get("commonName")),
             (NameOID.ORGANIZATION_NAME, subject.get("organization"))]
    return x509.Name([x509.NameAttribute(oid, v) for oid, v in parts if v])


def _sans(inputs: dict) -> list[x509.GeneralName]:
    return ([x509.DNSName(n) for n in inputs.get("dnsNames") or []]
            + [x509.IPAddress(ipaddress.ip_address(a)) for a in inputs.get("ipAddresses") or []])


def _sign(inputs: dict, subject: x509.Name, public_key, issuer: x509.Name, issuer_key,
          sans: list, is_ca: bool) -> dict:
    """certPem and the validity times pulumi-tls reports (RFC 3339, as its validity_start_time
    and validity_end_time)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    uses = set(inputs.get("allowedUses") or [])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=int(inputs["validityPeriodHours"])))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False))
    if issuer != subject:
        # As the real provider's: Go's x509.CreateCertificate copies the CA's subject key id
        # into the authority key id (crypto/x509/x509.go), which Python 3.13 requires (its
        # ssl.create_default_context sets VERIFY_X509_STRICT).
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature="digital_signature" in uses, content_commitment=False,
        key_encipherment="key_encipherment" in uses, data_encipherment=False,
        key_agreement="key_agreement" in uses, key_cert_sign="cert_signing" in uses,
        crl_sign="crl_signing" in uses, encipher_only=False, decipher_only=False), critical=True)
    extended = [oid for use, oid in (("server_auth", ExtendedKeyUsageOID.SERVER_AUTH),
                                     ("client_auth", ExtendedKeyUsageOID.CLIENT_AUTH))
                if use in uses]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(issuer_key, algorithm)
    return {"certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "validityStartTime": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "validityEndTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "readyForRenewal": False}


def _load_key(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _tls_self_signed(inputs: dict) -> dict:
    key = _load_key(inputs["privateKeyPem"])
    subject = _subject(inputs)
    return _sign(inputs, subject, key.public_key(), subject, key, _sans(inputs),
                 bool(inputs.get("isCaCertificate")))


def _tls_cert_request(inputs: dict) -> dict:
    key = _load_key(inputs["privateKeyPem"])
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(inputs))
    if _sans(inputs):
        builder = builder.add_extension(x509.SubjectAlternativeName(_sans(inputs)), False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return {"certRequestPem": builder.sign(key, algorithm)
            .public_bytes(serialization.Encoding.PEM).decode()}


def _tls_locally_signed(inputs: dict) -> dict:
    request = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
    ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    try:
        sans = list(request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    return _sign(inputs, request.subject, request.public_key(), ca_cert.subject,
                 _load_key(inputs["caPrivateKeyPem"]), sans, False)


def _random_password(inputs: dict) -> dict:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    length = int(inputs.get("length", 16))
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    return {"result": value, "bcryptHash": "$2a$10$" + "x" * 53}


def _random_bytes(inputs: dict) -> dict:
    data = secrets.token_bytes(int(inputs["length"]))
    return {"base64": base64.b64encode(data).decode(), "hex": data.hex()}


# Outputs by resource type: (name, inputs) -> outputs. Ids are the mock engine's business.
GENERATED: dict[str, Callable[[str, dict], dict]] = {
    "tls:index/privateKey:PrivateKey": lambda name, inputs: _tls_private_key(inputs),
    "tls:index/selfSignedCert:SelfSignedCert": lambda name, inputs: _tls_self_signed(inputs),
    "tls:index/certRequest:CertRequest": lambda name, inputs: _tls_cert_request(inputs),
    "tls:index/locallySignedCert:LocallySignedCert": lambda name, inputs: _tls_locally_signed(inputs),
    "random:index/randomPassword:RandomPassword": lambda name, inputs: _random_password(inputs),
    "random:index/randomBytes:RandomBytes": lambda name, inputs: _random_bytes(inputs),
}

# Like Pulumi's state: generated keys, certificates and random values stay the same across runs
# of the program in one process while their inputs stay the same (new inputs make new ones), in
# each stack (another stack has a state of its own, so it gets its own).
_GENERATED_BEFORE: dict[tuple[str, str, str, str], dict] = {}


def generated(type_: str, name: str, inputs: dict, stack: str) -> dict:
    key = (stack, type_, name, json.dumps(inputs, sort_keys=True, default=str))
    if key not in _GENERATED_BEFORE:
        _GENERATED_BEFORE[key] = GENERATED[type_](name, inputs)
    return _GENERATED_BEFORE[key]


def stand_in(name: str, what: str) -> str:
    """A recognisable placeholder for a value only a real host can make (a token)."""
    return f"plan-{what}-{hashlib.sha256(f'{name}/{what}'.encode()).hexdigest()[:24]}"


# What a remote command prints, for the steps whose output the program reads, by the end of the
# step's resource name. Every other step prints nothing.
COMMAND_STDOUT: dict[str, Callable[[str], str]] = {
    "-tokens": lambda name: json.dumps({"telegraf": stand_in(name, "telegraf"),
                                        "grafana": stand_in(name, "grafana")}),
}


def command_output(name: str) -> dict:
    printer = next((p for suffix, p in COMMAND_STDOUT.items() if name.endswith(suffix)), None)
    return {"stdout": printer(name) if printer else "", "stderr": ""}
