"""The project's recording mock engine: runs the real `__main__.py` offline, without the Pulumi
CLI or AWS, and records every resource as the engine would see it.

- Every registered resource is recorded with its type, name, parent, `inputs` (camelCase, each
  secret replaced by "[secret]") and `raw_inputs` (the real values, for tests and rendered files).
- Providers are answered by type; a type or data source it does not know fails loudly.
- pulumi-tls and pulumi-random are emulated for real (keys, certificates, passwords), so the
  files a plan renders work: a plan's broker files start a real mosquitto.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import runpy
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET = "[secret]"
_SIG = rpc._special_sig_key


@dataclass
class Recorded:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict
    raw_inputs: dict
    id: str = ""
    outputs: dict = field(default_factory=dict)
    protect: bool = False
    dependencies: list[str] = field(default_factory=list)
    """URNs this resource waits for (depends_on and inputs from other resources)."""
    secret_outputs: list[str] = field(default_factory=list)
    """Output names the program marked secret (additional_secret_outputs)."""


@dataclass
class ProgramRun:
    resources: list[Recorded]
    outputs: dict[str, Any]
    """Stack outputs, real values."""
    secret_outputs: set[str]
    """Names of stack outputs that are Pulumi secrets."""

    def find(self, type_: str, name: str | None = None) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_ and name in (None, r.name)]

    def one(self, type_: str, name: str) -> Recorded:
        found = self.find(type_, name)
        assert len(found) == 1, f"expected one {type_} named {name}, found {len(found)}"
        return found[0]

    def node_of(self, resource: Recorded) -> str | None:
        """Name of the top-level component a resource belongs to."""
        by_urn = {r.urn: r for r in self.resources}
        while resource.parent in by_urn:
            resource = by_urn[resource.parent]
        return resource.name

    def masked_outputs(self) -> dict[str, Any]:
        return {k: SECRET if k in self.secret_outputs else v for k, v in self.outputs.items()}


def mask(value: Any) -> Any:
    """A serialized property value with each secret replaced by SECRET and assets described."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == rpc._special_secret_sig:
            return SECRET
        if sig == rpc._special_asset_sig:
            return {"asset": value.get("path") or value.get("uri") or "<inline text>"}
        if sig == rpc._special_archive_sig:
            return {"archive": value.get("path") or sorted(value.get("assets", {}))}
        if sig == rpc._special_resource_sig:
            return value.get("urn")
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    return value


def unwrap(value: Any) -> Any:
    """Deserialized properties with every secret wrapper replaced by its value."""
    if isinstance(value, dict):
        if value.get(_SIG) == rpc._special_secret_sig:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


# --- emulated providers -----------------------------------------------------------------------

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
          sans: list, is_ca: bool) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    uses = set(inputs.get("allowedUses") or [])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=int(inputs["validityPeriodHours"])))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False))
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
    return builder.sign(issuer_key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def _load_key(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _tls_self_signed(inputs: dict) -> dict:
    key = _load_key(inputs["privateKeyPem"])
    subject = _subject(inputs)
    return {"certPem": _sign(inputs, subject, key.public_key(), subject, key, _sans(inputs),
                             bool(inputs.get("isCaCertificate")))}


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
    return {"certPem": _sign(inputs, request.subject, request.public_key(), ca_cert.subject,
                             _load_key(inputs["caPrivateKeyPem"]), sans, False)}


def _random_password(inputs: dict) -> dict:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    length = int(inputs.get("length", 16))
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    return {"result": value, "bcryptHash": "$2a$10$" + "x" * 53}


def _random_bytes(inputs: dict) -> dict:
    data = secrets.token_bytes(int(inputs["length"]))
    return {"base64": base64.b64encode(data).decode(), "hex": data.hex()}


# Like Pulumi's state: keys, certificates and random values stay the same across runs of the
# program in one process while their inputs stay the same (a changed input makes new ones).
_STATEFUL = ("tls:", "random:")
_STATE: dict[tuple[str, str, str], tuple[str, dict]] = {}


def _command_output(name: str, inputs: dict) -> dict:
    """A script whose second line reads `# prints: a b` prints a JSON object with those keys;
    the engine answers with placeholder values (tokens only a real host can create)."""
    lines = (inputs.get("stdin") or "").splitlines()
    if len(lines) > 1 and lines[1].startswith("# prints:"):
        keys = lines[1].removeprefix("# prints:").split()
        stdout = json.dumps({k: f"plan-{k}-{hashlib.sha256(name.encode()).hexdigest()[:24]}"
                             for k in keys})
    else:
        stdout = ""
    return {"stdout": stdout, "stderr": ""}


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers resources and data sources like AWS would, with stable fake identifiers."""

    def __init__(self, region: str = "eu-central-1"):
        self.region = region
        self.subnet_cidrs: dict[str, str] = {}
        self.subnet_zones: dict[str, str] = {}

    def _id(self, prefix: str, name: str) -> str:
        return f"{prefix}-{hashlib.sha256(name.encode()).hexdigest()[:17]}"

    def _arn(self, service: str, kind: str, name: str) -> str:
        return f"arn:aws:{service}:{self.region}:123456789012:{kind}/{name}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs, name, typ = unwrap(dict(args.inputs)), args.name, args.typ
        if not args.custom:
            return f"{name}-component", {}
        handler = self._HANDLERS.get(typ)
        if handler is None:
            raise NotImplementedError(f"mock engine: unknown resource type {typ} ({name})")
        if typ.startswith(_STATEFUL):
            key = (typ, name, json.dumps(inputs, sort_keys=True, default=str))
            if key not in _STATE:
                _STATE[key] = handler(self, name, inputs)
            rid, outputs = _STATE[key]
        else:
            rid, outputs = handler(self, name, inputs)
        return rid, {**inputs, **outputs}

    def _instance(self, name, inputs):
        rid = self._id("i", name)
        cidr = ipaddress.ip_network(self.subnet_cidrs.get(inputs.get("subnetId"), "10.42.0.0/24"))
        # From the name, not the order: resources register concurrently, and a changing address
        # would change the certificates that name it from one run to the next.
        used = 10 + int(hashlib.sha256(name.encode()).hexdigest(), 16) % 200
        out = {"privateIp": str(cidr.network_address + used), "arn": self._arn("ec2", "instance", rid),
               "primaryNetworkInterfaceId": self._id("eni", name),
               "availabilityZone": self.subnet_zones.get(inputs.get("subnetId"), f"{self.region}a"),
               "ipv6Addresses": [f"2001:db8:42:42{cidr.network_address.packed[2]:02x}::{used:x}"]}
        if inputs.get("associatePublicIpAddress"):
            out["publicIp"] = f"198.51.100.{used}"
        return rid, out

    def _subnet(self, name, inputs):
        rid = self._id("subnet", name)
        self.subnet_cidrs[rid] = inputs["cidrBlock"]
        self.subnet_zones[rid] = inputs.get("availabilityZone") or f"{self.region}a"
        return rid, {"arn": self._arn("ec2", "subnet", rid)}

    def _named(prefix: str, service: str, kind: str, extra=None):
        def handler(self, name, inputs):
            rid = (self._id(prefix, name) if prefix else
                   inputs.get("name") or f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}")
            resource_name = inputs.get("name") or rid
            out = {"arn": self._arn(service, kind, resource_name), "name": resource_name}
            out.update(extra(self, name, inputs) if extra else {})
            return rid, out
        return handler

    _HANDLERS = {
        "aws:ec2/vpc:Vpc": _named("vpc", "ec2", "vpc", lambda s, n, i: {
            "ipv6CidrBlock": "2001:db8:42:4200::/56"}),
        "aws:ec2/subnet:Subnet": _subnet,
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _named("sg", "ec2", "security-group"),
        "aws:ec2/internetGateway:InternetGateway": _named("igw", "ec2", "internet-gateway"),
        "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway":
            _named("eigw", "ec2", "egress-only-internet-gateway"),
        "aws:ec2/routeTable:RouteTable": _named("rtb", "ec2", "route-table"),
        "aws:ec2/route:Route": _named("r", "ec2", "route"),
        "aws:ec2/routeTableAssociation:RouteTableAssociation": _named("rtbassoc", "ec2", "assoc"),
        "aws:ec2/securityGroup:SecurityGroup": _named("sg", "ec2", "security-group"),
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _named("sgr", "ec2", "sgr"),
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _named("sgr", "ec2", "sgr"),
        "aws:ec2/keyPair:KeyPair": _named("key", "ec2", "key-pair", lambda s, n, i: {
            "keyName": i.get("keyName") or f"{n}-key"}),
        "aws:ec2/instance:Instance": _instance,
        "aws:ec2/eip:Eip": _named("eipalloc", "ec2", "elastic-ip", lambda s, n, i: {
            "publicIp": f"203.0.113.{int(hashlib.sha256(n.encode()).hexdigest(), 16) % 200 + 10}",
            "allocationId": s._id("eipalloc", n)}),
        "aws:ebs/volume:Volume": _named("vol", "ec2", "volume"),
        "aws:ec2/volumeAttachment:VolumeAttachment": _named("vai", "ec2", "attachment"),
        "aws:dlm/lifecyclePolicy:LifecyclePolicy": _named("policy", "dlm", "policy"),
        "aws:cloudwatch/logGroup:LogGroup": _named("", "logs", "log-group"),
        "aws:iam/role:Role": _named("", "iam", "role"),
        "aws:iam/rolePolicy:RolePolicy": _named("", "iam", "role-policy"),
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _named("", "iam", "attachment"),
        "aws:iam/user:User": _named("", "iam", "user"),
        "aws:iam/userPolicy:UserPolicy": _named("", "iam", "user-policy"),
        "aws:iam/accessKey:AccessKey": lambda s, n, i: (
            "AKIAMOCKEXAMPLE" + hashlib.sha256(n.encode()).hexdigest()[:5].upper(),
            {"secret": "mock-secret-" + secrets.token_hex(8)}),
        "aws:lambda/function:Function": _named("", "lambda", "function", lambda s, n, i: {
            "invokeArn": f"arn:aws:apigateway:{s.region}:lambda:path/{n}"}),
        "aws:lambda/invocation:Invocation": lambda s, n, i: (
            s._id("inv", n), {"result": json.dumps({"statusCode": 200, "changed": True})}),
        "tls:index/privateKey:PrivateKey": lambda s, n, i: (s._id("key", n), _tls_private_key(i)),
        "tls:index/selfSignedCert:SelfSignedCert": lambda s, n, i: (
            s._id("cert", n), _tls_self_signed(i)),
        "tls:index/certRequest:CertRequest": lambda s, n, i: (s._id("csr", n), _tls_cert_request(i)),
        "tls:index/locallySignedCert:LocallySignedCert": lambda s, n, i: (
            s._id("cert", n), _tls_locally_signed(i)),
        "random:index/randomPassword:RandomPassword": lambda s, n, i: (
            s._id("pw", n), _random_password(i)),
        "random:index/randomBytes:RandomBytes": lambda s, n, i: (s._id("rb", n), _random_bytes(i)),
        "command:remote:Command": lambda s, n, i: (s._id("cmd", n), _command_output(n, i)),
    }

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"euc1-az{i}" for i in (2, 3, 1)], "id": self.region}
        if args.token == "aws:ec2/getAmi:getAmi":
            arch = next(f["values"][0] for f in args.args["filters"] if f["name"] == "architecture")
            return {"id": f"ami-ubuntu2404{arch.replace('_', '')}", "architecture": arch,
                    "name": f"ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server"}
        raise NotImplementedError(f"mock engine: unknown data source {args.token}")


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each registration's parent and masked inputs."""

    def __init__(self, mocks_: RecordingMocks):
        super().__init__(mocks_)
        self.records: list[Recorded] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        serialized = json_format.MessageToDict(request.object)
        raw = unwrap(rpc.deserialize_properties(request.object))
        top_level = request.parent.split("::")[2] == "pulumi:pulumi:Stack"
        parent = None if top_level else request.parent
        registration = self.resources[response.urn]
        self.records.append(Recorded(
            urn=response.urn, type=request.type, name=request.name, parent=parent,
            custom=bool(request.custom), inputs=mask(serialized), raw_inputs=_plain(raw),
            id=registration.id or "", outputs=_plain(unwrap(registration.state)),
            protect=bool(request.protect), dependencies=list(request.dependencies),
            secret_outputs=list(request.additionalSecretOutputs)))
        # Like the real engine: outputs a resource declares secret (a provider's generated
        # passwords, `additional_secret_outputs`) come back to the program as secrets.
        state = json_format.MessageToDict(response.object)
        for key in request.additionalSecretOutputs:
            if key in state and not (isinstance(state[key], dict) and _SIG in state[key]):
                response.object.update({key: {_SIG: rpc._special_secret_sig, "value": state[key]}})
        return response


def _plain(value: Any) -> Any:
    """Deserialized properties as JSON-able values (assets and resources by name)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, pulumi.FileAsset):
        return {"asset": value.path}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": sorted(value.assets)}
    return repr(value)


def _config_strings(config: dict[str, Any]) -> dict[str, str]:
    """Stack YAML config values as Pulumi hands them to a program: strings, structures as JSON."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ValueError(f"{key}: encrypted values cannot be read offline")
        if isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def run_program(config: dict[str, Any], stack: str = "dev",
                program: Path = PROJECT_DIR / "__main__.py") -> ProgramRun:
    """Run the real program once, fresh, under the recording engine; raise what it raises."""
    region = str(config.get("aws:region", "eu-central-1"))
    engine = RecordingMocks(region)
    monitor = RecordingMonitor(engine)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    pulumi.runtime.set_all_config(_config_strings(config))
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(engine, project="solarmonitor", stack=stack, preview=False,
                             monitor=monitor)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))

    async def resolve(value):
        output = pulumi.Output.from_input(value)
        return await output.future(), await output.is_secret()

    outputs, secret_names = {}, set()
    for name, value in settings.get_root_resource().outputs.items():
        resolved, is_secret = _sync_await(resolve(value))
        outputs[name] = _plain(resolved)
        if is_secret:
            secret_names.add(name)
    return ProgramRun(monitor.records, outputs, secret_names)
