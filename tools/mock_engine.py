"""The project's recording mock engine: runs the real `__main__.py` (or one component) offline,
without the Pulumi CLI or AWS, and records every resource as the engine would see it.

- Every registered resource is recorded with its type, name, parent, resource options (its
  aliases as the full specs the SDK sends), `inputs` (camelCase, each secret replaced by
  "[secret]") and `raw_inputs` (the real values, for tests and for the files a plan renders).
- URNs are the engine's: the SDK's mock monitor keeps only the parent's last type in a child's
  URN and puts the stack's type in front of top-level ones, which would hide every parent change.
  `continued` matches a run against an earlier state as the engine does, aliases included.
- AWS resources and data sources are answered by type with stable fake identifiers; a type or
  data source it does not know fails loudly. pulumi-tls, pulumi-random and what remote commands
  print come from `tools/mock_providers.py`.
- Every AWS resource's inputs are checked against AWS's own rules (`tools/aws_model_check.py`):
  a run that AWS would refuse raises AwsModelError with one line.
- Built on the public Mocks/MockMonitor API; the one unavoidable SDK internal is fenced in
  `tools/pulumi_runtime.py`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import runpy
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

from tools import aws_model_check, mock_providers
from tools.aws_model_check import autoname
from tools.pulumi_runtime import ensure_event_loop, run_fresh

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET = "[secret]"

# Pulumi's property wire format (sdk/proto/README: "special signatures"): a map carrying this key
# is a secret, an asset, an archive or a resource reference rather than a plain map.
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


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
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    aliases: list[dict] = field(default_factory=list)
    """Each alias as the SDK sends it: {"urn": ...} or {"spec": {"name", "type", "parentUrn" or
    "noParent", "stack", "project"}} (pulumi/alias.proto; unset fields left out)."""
    replacement_trigger: Any = None
    """The value whose change replaces the resource (`replacement_trigger`), if any."""


@dataclass
class ProgramRun:
    resources: list[Recorded]
    outputs: dict[str, Any]
    """Stack outputs, real values."""
    secret_outputs: set[str]
    """Names of stack outputs that are Pulumi secrets."""
    logs: list[str] = field(default_factory=list)
    """What the program logged (pulumi.log), as "<level>: <message>", in order."""

    def find(self, type_: str, name: str | None = None) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_ and name in (None, r.name)]

    def one(self, type_: str, name: str) -> Recorded:
        found = self.find(type_, name)
        assert len(found) == 1, f"expected one {type_} named {name}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Recorded:
        return next(r for r in self.resources if r.urn == urn)

    def node_of(self, resource: Recorded) -> str | None:
        """Name of the top-level component a resource belongs to."""
        by_urn = {r.urn: r for r in self.resources}
        while resource.parent in by_urn:
            resource = by_urn[resource.parent]
        return resource.name

    def masked_outputs(self) -> dict[str, Any]:
        return {k: SECRET if k in self.secret_outputs else v for k, v in self.outputs.items()}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def mask(value: Any) -> Any:
    """A serialized property value with each secret replaced by SECRET and assets described."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return SECRET
        if sig is not None:
            return unwrap(value)
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return _number(value)  # protobuf carries every number as a double


def unwrap(value: Any) -> Any:
    """A serialized property value as plain data: secrets unwrapped, assets by their path."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            return unwrap(value.get("value"))
        if sig == _ASSET_SIG:
            return {"asset": value.get("path") or value.get("uri") or "<inline text>"}
        if sig == _ARCHIVE_SIG:
            return {"archive": value.get("path") or sorted(value.get("assets", {}))}
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return _number(value)


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG) == _SECRET_SIG


def _urn_parts(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of a URN."""
    stack_part, project, qualified, name = urn.split("::", 3)
    return stack_part.removeprefix("urn:pulumi:"), project, qualified, name


def _create_urn(name: str, type_: str, parent: str, project: str, stack: str) -> str:
    """sdk/go/common/resource/alias.go, CreateURN."""
    prefix = (f"urn:pulumi:{stack}::{project}::" if not parent
              else parent[:parent.rindex("::")] + "$")
    return f"{prefix}{type_}::{name}"


def _new_urn(stack: str, project: str, parent_type: str, type_: str, name: str) -> str:
    """sdk/go/common/resource/urn/urn.go, New."""
    if parent_type and parent_type != ROOT_STACK_TYPE:
        type_ = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def continued(run: ProgramRun, previous: Iterable[str]) -> dict[str, str]:
    """{URN in `run`: the URN in a state holding `previous` that the resource continues}, matched
    as the engine matches a program's registrations against the state it updates: by URN first,
    then by each alias, a parent's matched alias passed on to its children
    (pkg/resource/deploy/step_generator.go: getOldResource, generateAliases,
    collapseAliasToUrn, inheritedChildAlias). A resource missing from the answer is created anew;
    a `previous` URN no resource continues is deleted. Raises where the engine reports a
    duplicate alias."""
    olds = set(previous)
    aliased: dict[str, str] = {}  # the engine's sg.aliases: URN -> the old URN it took over
    found: dict[str, str] = {}
    for resource in run.resources:  # in registration order: every parent before its children
        stack, project, _, name = _urn_parts(resource.urn)
        parent = resource.parent or ""  # "": the root stack, which URNs leave out

        def collapse(alias: dict) -> str:
            if "urn" in alias:
                return alias["urn"]
            spec = alias["spec"]
            alias_parent = spec.get("parentUrn") or parent
            alias_parent = aliased.get(alias_parent, alias_parent)
            if spec.get("noParent") or (alias_parent and
                                        _urn_parts(alias_parent)[2] == ROOT_STACK_TYPE):
                alias_parent = ""
            return _create_urn(spec.get("name") or name, spec.get("type") or resource.type,
                               alias_parent, spec.get("project") or project,
                               spec.get("stack") or stack)

        def inherited(child_type: str, child_name: str, parent_alias: str) -> str:
            parent_name = _urn_parts(parent)[3]
            if child_name.startswith(parent_name):
                child_name = _urn_parts(parent_alias)[3] + child_name[len(parent_name):]
            return _new_urn(stack, project, _urn_parts(parent_alias)[2], child_type, child_name)

        candidates = [collapse(alias) for alias in resource.aliases]
        if parent in aliased:
            candidates.append(inherited(resource.type, name, aliased[parent]))
            candidates += [inherited(_urn_parts(urn)[2].rsplit("$", 1)[-1],
                                     _urn_parts(urn)[3], aliased[parent])
                           for urn in map(collapse, resource.aliases)]
        for urn in [resource.urn, *candidates]:
            if urn not in olds:
                continue
            if urn != resource.urn:
                if urn in found.values() or urn in {r.urn for r in run.resources}:
                    raise ValueError(f"{resource.urn} claims {urn}, which another resource is")
                aliased[resource.urn] = urn
            found[resource.urn] = urn
            break
    return found


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers resources and data sources like AWS would, with stable fake identifiers."""

    def __init__(self, region: str = "eu-central-1", ids: dict[str, str] | None = None,
                 preview: bool = False):
        self.region = region
        self.ids = ids or {}
        """Resources the stack already holds under these ids, by name (what `pulumi import`
        puts there)."""
        self.preview = preview
        """A preview of a new stack: nothing is made, so what a provider computes (ids,
        certificates, addresses) is unknown and only the inputs are known, as the engine answers
        a create in a preview."""
        self.subnet_cidrs: dict[str, str] = {}
        self.subnet_zones: dict[str, str] = {}

    def _id(self, prefix: str, name: str) -> str:
        return f"{prefix}-{hashlib.sha256(name.encode()).hexdigest()[:17]}"

    # ARNs in AWS's own formats (Service Authorization Reference, each service's "Resource
    # types"): IAM's have no region; Lambda functions, log groups and alarms put ":" after the
    # resource type, the rest "/". Policies built from them are checked as AWS reads them.
    _COLON_TYPES = {("lambda", "function"), ("logs", "log-group"), ("cloudwatch", "alarm")}

    def _arn(self, service: str, kind: str, name: str) -> str:
        region = "" if service == "iam" else self.region
        separator = ":" if (service, kind) in self._COLON_TYPES else "/"
        return f"arn:aws:{service}:{region}:123456789012:{kind}{separator}{name}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs, name, typ = unwrap(json.loads(json.dumps(args.inputs, default=str))), args.name, args.typ
        if not args.custom:
            return f"{name}-component", {}
        if self.preview:
            # Missing from the state: unknown to a preview (pulumi/runtime/rpc.py,
            # resolve_outputs); an unknown input stays unknown.
            return "", dict(args.inputs)
        if typ in mock_providers.GENERATED:
            return self._id("gen", name), {**inputs, **mock_providers.generated(
                typ, name, inputs, pulumi.get_stack())}
        if typ == "command:remote:Command":
            return self._id("cmd", name), {**inputs, **mock_providers.command_output(name)}
        handler = self._HANDLERS.get(typ)
        if handler is None:
            raise NotImplementedError(f"mock engine: unknown resource type {typ} ({name})")
        rid, outputs = handler(self, name, inputs)
        return self.ids.get(name, rid), {**inputs, **outputs}

    def _instance(self, name, inputs):
        # A new id when an input that replaces an instance differs, as AWS gives a new instance.
        replaced_by = json.dumps([inputs.get(k) for k in ("ami", "subnetId", "privateIp",
                                                          "ipv6Addresses")])
        rid = self._id("i", name + replaced_by)
        cidr = ipaddress.ip_network(self.subnet_cidrs.get(inputs.get("subnetId"), "10.42.0.0/24"))
        # From the id, not the order: resources register concurrently, and a changing address
        # would change the certificates that name it from one run to the next. A replaced
        # instance gets another address, as on AWS, unless it asks for a fixed one.
        used = 100 + int(hashlib.sha256(rid.encode()).hexdigest(), 16) % 150
        out = {"privateIp": inputs.get("privateIp") or str(cidr.network_address + used),
               "arn": self._arn("ec2", "instance", rid),
               "primaryNetworkInterfaceId": self._id("eni", name),
               "availabilityZone": self.subnet_zones.get(inputs.get("subnetId"), f"{self.region}a"),
               "ipv6Addresses": inputs.get("ipv6Addresses")
               or [f"2001:db8:42:42{cidr.network_address.packed[2]:02x}::{used:x}"]}
        if inputs.get("associatePublicIpAddress"):
            out["publicIp"] = f"198.51.100.{used}"
        return rid, out

    def _subnet(self, name, inputs):
        rid = self._id("subnet", name)
        self.subnet_cidrs[rid] = inputs["cidrBlock"]
        self.subnet_zones[rid] = inputs.get("availabilityZone") or f"{self.region}a"
        return rid, {"arn": self._arn("ec2", "subnet", rid)}

    def _eip(self, name, inputs):
        address = f"203.0.113.{int(hashlib.sha256(name.encode()).hexdigest(), 16) % 200 + 10}"
        # AWS's public DNS name for the address (VPCs with DNS hostnames enabled).
        dns = (f"ec2-{address.replace('.', '-')}.compute-1.amazonaws.com" if self.region == "us-east-1"
               else f"ec2-{address.replace('.', '-')}.{self.region}.compute.amazonaws.com")
        return self._id("eipalloc", name), {"publicIp": address, "publicDns": dns,
                                             "allocationId": self._id("eipalloc", name)}

    def _named(prefix: str, service: str, kind: str, extra=None):
        def handler(self, name, inputs):
            rid = self._id(prefix, name) if prefix else inputs.get("name") or autoname(name)
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
        "aws:ec2/eip:Eip": _eip,
        "aws:ebs/volume:Volume": _named("vol", "ec2", "volume"),
        "aws:ec2/volumeAttachment:VolumeAttachment": _named("vai", "ec2", "attachment"),
        "aws:ec2transitgateway/instanceState:InstanceState": lambda s, n, i: (i["instanceId"], {}),
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
        # The provider's id is the function's name (with ":qualifier" when one is given).
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": lambda s, n, i: (
            i["functionName"], {}),
        "aws:iam/instanceProfile:InstanceProfile": _named("", "iam", "instance-profile"),
        "aws:cloudwatch/metricAlarm:MetricAlarm": _named("", "cloudwatch", "alarm"),
        "aws:scheduler/schedule:Schedule": _named("", "scheduler", "schedule/default"),
        # SNS ARNs have no resource type part: arn:aws:sns:<region>:<account>:<topic>.
        "aws:sns/topic:Topic": lambda s, n, i: (
            f"arn:aws:sns:{s.region}:123456789012:{n}-{hashlib.sha256(n.encode()).hexdigest()[:7]}",
            {"arn": f"arn:aws:sns:{s.region}:123456789012:{n}-"
                    f"{hashlib.sha256(n.encode()).hexdigest()[:7]}"}),
        "aws:sns/topicSubscription:TopicSubscription": lambda s, n, i: (
            f"{i['topic']}:{s._id('sub', n)[4:]}", {"arn": f"{i['topic']}:{s._id('sub', n)[4:]}"}),
        "aws:lambda/invocation:Invocation": lambda s, n, i: (
            s._id("inv", n), {"result": json.dumps({"statusCode": 200, "changed": True})}),
    }

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"euc1-az{i}" for i in (2, 3, 1)], "id": self.region}
        if args.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            # Like some real zones (use1-az3): the first zone has no Graviton (t4g) instances.
            wanted = next(f["values"] for f in args.args["filters"] if f["name"] == "instance-type")
            offered = [(f"{self.region}{zone}", kind) for zone in "abc" for kind in wanted
                       if zone != "a" or not kind.startswith("t4g.")]
            return {"locations": [z for z, _ in offered], "instanceTypes": [k for _, k in offered],
                    "locationTypes": ["availability-zone"] * len(offered), "id": self.region}
        if args.token == "aws:ec2/getAmi:getAmi":
            arch = next(f["values"][0] for f in args.args["filters"] if f["name"] == "architecture")
            return {"id": f"ami-ubuntu2404{arch.replace('_', '')}", "architecture": arch,
                    "name": f"ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server"}
        raise NotImplementedError(f"mock engine: unknown data source {args.token}")


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also keeping each registration's parent, options and inputs, and
    the stack's outputs."""

    def __init__(self, mocks_: RecordingMocks):
        super().__init__(mocks_)
        self.records: list[Recorded] = []
        self.stack_outputs: dict[str, Any] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN (sdk/go/common/resource/urn/urn.go, New): the parent's whole qualified
        type before the resource's own, the root stack's type left out. The SDK's mock monitor
        (pulumi/runtime/mocks.py, make_urn) keeps only the parent's last type and keeps the
        stack's, so a resource moved to another grandparent would keep its URN there."""
        if parent:
            qualified = parent.split("::")[2]
            if qualified != ROOT_STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        serialized = json_format.MessageToDict(request.object)
        top_level = request.parent.split("::")[2] == ROOT_STACK_TYPE
        registration = self.resources[response.urn]
        self.records.append(Recorded(
            urn=response.urn, type=request.type, name=request.name,
            parent=None if top_level else request.parent, custom=bool(request.custom),
            inputs=mask(serialized), raw_inputs=unwrap(serialized), id=registration.id or "",
            outputs=unwrap(json.loads(json.dumps(registration.state, default=str))),
            protect=bool(request.protect), dependencies=list(request.dependencies),
            secret_outputs=list(request.additionalSecretOutputs),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            aliases=[json_format.MessageToDict(alias) for alias in request.aliases],
            replacement_trigger=(unwrap(json_format.MessageToDict(request.replacement_trigger))
                                 if request.HasField("replacement_trigger") else None)))
        # Like the real engine: outputs a resource declares secret (a provider's generated
        # passwords, `additional_secret_outputs`) come back to the program as secrets.
        state = json_format.MessageToDict(response.object)
        for key in request.additionalSecretOutputs:
            if key in state and not _is_secret(state[key]):
                response.object.update({key: {_SIG: _SECRET_SIG, "value": state[key]}})
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn.split("::")[2] == ROOT_STACK_TYPE:
            self.stack_outputs = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


# What an encrypted config value (`{secure: ...}`) stands for offline: the engine cannot decrypt
# it, and the real CLI hands the program the decrypted text and lists the key as a secret.
SECURE_STAND_IN = "stand-in-for-an-encrypted-value"


def config_bag(config: dict[str, Any]) -> str:
    """Stack YAML config as the Pulumi CLI hands it to a program (PULUMI_CONFIG): a JSON map of
    strings, structured values JSON-encoded; an encrypted value as SECURE_STAND_IN."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            out[key] = SECURE_STAND_IN
        elif isinstance(value, (dict, list)):
            if _holds_secure(value):
                raise ValueError(f"{key}: encrypted values inside a structured value cannot be "
                                 "read offline")
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return json.dumps(out)


def _holds_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_holds_secure(v) for v in value.values())
    return isinstance(value, list) and any(_holds_secure(v) for v in value)


def secret_keys(config: dict[str, Any]) -> list[str]:
    """The keys the CLI would list as secrets (PULUMI_CONFIG_SECRET_KEYS): the encrypted ones."""
    return sorted(key for key, value in config.items()
                  if isinstance(value, dict) and set(value) == {"secure"})


class _LogRecorder(logging.Handler):
    """Keeps what the program logs (pulumi.runtime.mocks.MockEngine.Log hands it to a logger)
    that `pulumi up` shows: info and above (debug only with --debug). A logger of its own, so
    nothing reaches the root logger's output (`make plan` prints none)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.logger = logging.Logger("solarmonitor-program")
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


def run(program: Callable[[], None], config: dict[str, Any] | None = None,
        stack: str = "dev", secrets: dict[str, str] | None = None,
        ids: dict[str, str] | None = None, preview: bool = False) -> ProgramRun:
    """Run `program` once, fresh, under the recording engine; raise what it raises. `secrets`:
    decrypted secret values by full key, as the CLI hands over a `--secret` value. `ids`: the
    ids of resources the stack holds already, by name (e.g. an imported volume). `preview`: as
    `pulumi preview` of a new stack (RecordingMocks.preview)."""
    config = {**(config or {}), **(secrets or {})}
    keys = sorted({*secret_keys(config), *(secrets or {})})
    engine = RecordingMocks(str(config.get("aws:region", "eu-central-1")), ids, preview)
    monitor = RecordingMonitor(engine)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    os.environ["PULUMI_CONFIG"] = config_bag(config)
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(keys)
    pulumi.runtime.set_all_config({}, keys)
    ensure_event_loop()
    logs = _LogRecorder()
    pulumi.runtime.set_mocks(engine, project="solarmonitor", stack=stack, preview=preview,
                             monitor=monitor, logger=logs.logger)
    run_fresh(program)
    # What AWS (or its provider) would refuse stops the run, as it would stop `pulumi up`. A
    # preview's inputs are mostly unknown (the check reads values): it checks what an update sends.
    if not preview:
        aws_model_check.refuse(monitor.records)
    outputs = monitor.stack_outputs
    return ProgramRun(monitor.records, {k: unwrap(v) for k, v in outputs.items()},
                      {k for k, v in outputs.items() if _is_secret(v)}, logs.messages)


def run_program(config: dict[str, Any], stack: str = "dev",
                program: Path = PROJECT_DIR / "__main__.py",
                secrets: dict[str, str] | None = None,
                ids: dict[str, str] | None = None, preview: bool = False) -> ProgramRun:
    """Run the real program once, fresh, under the recording engine; raise what it raises."""
    return run(lambda: runpy.run_path(str(program), run_name="__main__"), config, stack, secrets,
               ids, preview)
