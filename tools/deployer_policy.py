"""`make deployer-policy`: the least IAM policy the user who deploys needs, as JSON, so that
nobody has to deploy as an administrator.

Generated from what the program creates: it runs offline under the mock engine with the
stack's settings, alerts on (so turning `alertEmail` on later needs no new policy), and takes the actions of every `aws:` type it made from tools/deployer_actions.py,
with the data sources the program reads and the calls `make deploy` and `make check` make
themselves. Two narrowings on top:
every action that IAM can bound by resource is bound to this stack's resources (IAM, Lambda,
logs, SNS and alarms by the names Pulumi gives them, EC2 and DLM by the stack's region);
iam:PassRole only to the services the stack's roles are for (ec2, lambda, dlm, scheduler); and
iam:AttachRolePolicy/DetachRolePolicy only for the AWS-managed policies the program attaches.
Run it again after changing the region.

Read what it cannot do before you rely on it: it may create IAM roles and users with inline
policies, as the stack needs, so whoever holds these keys can give a role they create more
rights; keep them as carefully as an administrator's. What it saves you from is an
administrator's key on your laptop touching everything else in the account by mistake.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402
from parliament.statement import get_privilege_info  # noqa: E402

from components.config import ConfigError  # noqa: E402
from tools.deployer_actions import (  # noqa: E402
    ACTIONS, CHECK_ACTIONS, DATA_SOURCES, DEPLOY_ACTIONS, PASSED_TO)
from tools.mock_engine import ProgramRun, run_program  # noqa: E402
from tools.stack_file import (  # noqa: E402
    DEFAULT_REGION, StackError, add_stack_arguments, ensure_config_file, load_config,
    stack_from, without_secrets)

ATTACH = ("iam:AttachRolePolicy", "iam:DetachRolePolicy")
ALERT_KEY = "solarmonitor:alertEmail"
ALERTS_ON = {ALERT_KEY: "deployer-policy@example.org"}
# Where the program's resources of a type live, by the names Pulumi gives them: the logical name
# and a random suffix (auto-naming, `<name>-<7 hex digits>`), and every logical name starts with
# its top-level component's (`<component>-<role>`, STYLE.md), so `<component>-*` admits this
# program's resources and no others (and keeps the policy under IAM's 6,144 characters for a
# managed policy, whitespace not counted: AWS IAM quotas). EC2 and DLM name resources by ids AWS
# makes up, so for them the region is the bound.
NAMED = {
    "aws:iam/role:Role": "arn:aws:iam::*:role/{}-*",
    "aws:iam/user:User": "arn:aws:iam::*:user/{}-*",
    "aws:iam/instanceProfile:InstanceProfile": "arn:aws:iam::*:instance-profile/{}-*",
    "aws:lambda/function:Function": "arn:aws:lambda:{region}:*:function:{}-*",
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{region}:*:log-group:{}-*",
    "aws:sns/topic:Topic": "arn:aws:sns:{region}:*:{}-*",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "arn:aws:cloudwatch:{region}:*:alarm:{}-*",
    # Schedules live in a group; the program's are in the default one.
    "aws:scheduler/schedule:Schedule": "arn:aws:scheduler:{region}:*:schedule/default/{}-*",
}
MANAGED_POLICY_MAX_CHARACTERS = 6144


class MissingActions(Exception):
    """The program creates a type the action table does not know."""


def created_types(runs: list[ProgramRun]) -> set[str]:
    return {r.type for run in runs for r in run.resources if r.custom and r.type.startswith("aws:")}


def attached_policies(runs: list[ProgramRun]) -> list[str]:
    return sorted({r.raw_inputs["policyArn"] for run in runs
                   for r in run.find("aws:iam/rolePolicyAttachment:RolePolicyAttachment")})


def resource_patterns(runs: list[ProgramRun], region: str) -> dict[str, list[str]]:
    """ARN patterns of what the program makes, by IAM service prefix."""
    patterns: dict[str, set[str]] = {}
    for run in runs:
        for resource in run.resources:
            if resource.type in NAMED:
                arn = NAMED[resource.type].format(run.node_of(resource), region=region)
                patterns.setdefault(arn.split(":")[2], set()).add(arn)
    return {service: sorted(arns) for service, arns in patterns.items()}


def takes_resources(action: str) -> bool:
    """Whether IAM can bound the action by resource (AWS's Service Authorization Reference, as
    parliament holds it); the others only ever work on Resource "*"."""
    service, name = action.split(":")
    return any(r["resource_type"] for r in get_privilege_info(service, name)["resource_types"])


def policy(runs: list[ProgramRun], region: str) -> dict:
    types = created_types(runs)
    unknown = sorted(types - set(ACTIONS))
    if unknown:
        raise MissingActions(f"no IAM actions known for {', '.join(unknown)}: add them to "
                             "tools/deployer_actions.py")
    actions = {action for type_ in types for action in ACTIONS[type_].actions}
    actions |= {action for needed in DATA_SOURCES.values() for action in needed}
    actions |= set(DEPLOY_ACTIONS) | set(CHECK_ACTIONS)
    patterns = resource_patterns(runs, region)
    special = {"iam:PassRole", *ATTACH}

    def where(service: str) -> list[str]:
        return patterns.get(service) or [f"arn:aws:{service}:{region}:*:*"]

    roles = [arn for arn in where("iam") if ":role/" in arn]

    # Short statement ids: the whole policy must fit IAM's 6,144 characters (see NAMED).
    statements = [{"Sid": "Unbounded", "Effect": "Allow",
                   "Action": sorted(a for a in actions - special if not takes_resources(a)),
                   "Resource": "*"}]
    for service in sorted({a.split(":")[0] for a in actions - special if takes_resources(a)}):
        statements.append({
            "Sid": f"{service.upper()}", "Effect": "Allow",
            "Action": sorted(a for a in actions - special
                             if a.startswith(f"{service}:") and takes_resources(a)),
            "Resource": where(service)})
    if "iam:PassRole" in actions:
        statements.append({"Sid": "PassRoles", "Effect": "Allow",
                           "Action": "iam:PassRole", "Resource": roles,
                           "Condition": {"StringEquals": {"iam:PassedToService":
                                                          list(PASSED_TO)}}})
    managed = attached_policies(runs)
    if managed and actions & set(ATTACH):
        statements.append({"Sid": "AttachManaged", "Effect": "Allow",
                           "Action": sorted(actions & set(ATTACH)), "Resource": roles,
                           "Condition": {"ArnEquals": {"iam:PolicyARN": managed}}})
    return {"Version": "2012-10-17", "Statement": statements}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    options = parser.parse_args(argv)
    try:
        stack = stack_from(options, any_file=True)
        ensure_config_file(stack)
        config = {"aws:region": DEFAULT_REGION, **load_config(stack.config_file)}
        # Alerts only add resources, so the run with them on makes every type the stack can.
        run = run_program(without_secrets({**config, **({} if config.get(ALERT_KEY)
                                                          else ALERTS_ON)}), stack=stack.name)
        document = policy([run], str(config["aws:region"]))
    except (StackError, ConfigError, pulumi.RunError, ValueError, MissingActions) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    size = len(json.dumps(document, separators=(",", ":")))
    if size > MANAGED_POLICY_MAX_CHARACTERS:
        print(f"warning: {size} characters, more than the {MANAGED_POLICY_MAX_CHARACTERS} IAM "
              "takes in one managed policy: split its statements over two", file=sys.stderr)
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
