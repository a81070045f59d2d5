"""`make deploy` asks AWS, before `pulumi up`, whether the Pi's IpGuard function can be held to
one execution at a time (`solarmonitor:ipGuardReserveConcurrency`, components/ip_guard.py), and
deploys without the reservation, saying so, where AWS would refuse it halfway through.

AWS reserves concurrency for a function only while enough of the account's quota in the region
stays unreserved: "as long as you leave at least 100 simultaneous executions unreserved"
(botocore's lambda model, PutFunctionConcurrency's documentation); "You can reserve up to the
Unreserved account concurrency value that is shown, minus 100"
(docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html; awsdocs/aws-lambda-
developer-guide doc_source/configuration-concurrency.md, before 4f313b9). Below a quota of 100 the
minimum is the quota itself: AWS's refusal in an account with a quota of 10 reads "Specified
ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below
its minimum value of [10]". New accounts get such reduced quotas
(docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), and there the quota itself
caps a flood: all of the account's functions without a reservation share it.

    python3 tools/lambda_concurrency.py   # STACK/CONFIG from the environment, as make passes them

prints the `--config` value for `pulumi up` (nothing when the setting stays as it is) and says why
on stderr. A stack file that sets the key is never second-guessed, and AWS is not asked. An answer
AWS does not give (no permission, no network) never stops the deploy: a warning, and the setting
stays as it is. Run after `pulumi stack select`: a later deploy counts the reservation the stack's
function already holds (`pulumi stack output ipGuardFunctionName`, then GetFunction, which the
deploying user may call anyway), which AWS leaves out of the unreserved figure.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.stack_file import (  # noqa: E402
    Stack, StackError, from_environment, load_config, region_of)

KEY = "solarmonitor:ipGuardReserveConcurrency"
RESERVED = 1  # what the program reserves (components/ip_guard.py CONCURRENCY; a test ties them)
MIN_UNRESERVED = 100  # configuration-concurrency.html, above
# An unreachable endpoint costs seconds, not botocore's default minute times five tries.
QUICK = Config(connect_timeout=5, read_timeout=10,
               retries={"mode": "standard", "total_max_attempts": 2})


@dataclass(frozen=True)
class AccountConcurrency:
    """GetAccountSettings' AccountLimit for one region."""
    quota: int
    """ConcurrentExecutions: the account's executions at a time in the region."""
    unreserved: int
    """UnreservedConcurrentExecutions: the quota less every function's reservation."""

    def fits(self, held: int = 0) -> bool:
        """Whether AWS lets the stack's function reserve RESERVED when it holds `held` now. (Below
        a quota of 100, where the minimum is the quota, nothing fits: the same answer.)"""
        return self.unreserved + held - RESERVED >= MIN_UNRESERVED


class Unknown(Exception):
    """AWS's answer could not be had; str() says why, in a few words."""


def account_concurrency(client) -> AccountConcurrency:
    try:
        limit = client.get_account_settings().get("AccountLimit", {})
    except (BotoCoreError, ClientError) as error:
        raise Unknown(str(error)) from None
    # Every member is optional in botocore's model (lambda 2015-03-31, shape AccountLimit).
    if not isinstance(limit.get("ConcurrentExecutions"), int) or \
            not isinstance(limit.get("UnreservedConcurrentExecutions"), int):
        raise Unknown(f"GetAccountSettings answered without the concurrency figures: {limit}")
    return AccountConcurrency(limit["ConcurrentExecutions"],
                              limit["UnreservedConcurrentExecutions"])


def held_reservation(stack: Stack, client) -> int:
    """The reservation the stack's deployed IpGuard function holds (0 before the first deploy)."""
    try:
        done = subprocess.run(["pulumi", "stack", "output", "ipGuardFunctionName",
                               "--stack", stack.name], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Unknown(f"pulumi stack output: {error}") from None
    if done.returncode != 0:
        # A stack never deployed has no outputs (pulumi/pulumi pkg/cmd/pulumi/stack/
        # stack_output.go: "current stack does not have output property").
        if "does not have output property" in done.stderr:
            return 0
        raise Unknown(f"pulumi stack output failed: {done.stderr.strip()[-200:]}")
    try:
        # "Use GetFunction to see the current setting" (PutFunctionConcurrency's documentation);
        # the AWS provider reads it there too (terraform-provider-aws function.go).
        answer = client.get_function(FunctionName=done.stdout.strip())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return 0
        raise Unknown(str(error)) from None
    except BotoCoreError as error:
        raise Unknown(str(error)) from None
    return answer.get("Concurrency", {}).get("ReservedConcurrentExecutions") or 0


def lambda_client(config: dict, region: str):
    """Lambda in the stack's region, as the AWS provider reaches it (a plain `aws:profile`)."""
    profile = config.get("aws:profile")
    session = boto3.Session(profile_name=profile if isinstance(profile, str) else None)
    return session.client("lambda", region_name=region, config=QUICK)


def explain(account: AccountConcurrency, held: int, stack: Stack, region: str) -> str:
    pool = account.unreserved + held  # what the function shares without a reservation
    others = account.quota - pool  # reserved by the account's other functions
    reserved_elsewhere = f", {others} of them reserved by other functions" if others else ""
    return "\n".join((
        f"note: this AWS account may run {account.quota} Lambda executions at a time in {region} "
        f"(its \"Concurrent executions\" quota{reserved_elsewhere}); AWS reserves concurrency "
        f"for a function only while at least {MIN_UNRESERVED} stay unreserved, so the Pi's "
        f"IpGuard function cannot be held to {RESERVED} at a time.",
        f"note: AWS itself then caps its calls at {pool} at a time (a pool the account's other "
        f"functions share). Deploying with {KEY}=false, which pulumi up --config saves in "
        f"{stack.config_file.name}.",
        f"note: for the tighter cap of {RESERVED}, raise \"Concurrent executions\" to "
        f"{others + MIN_UNRESERVED + RESERVED} or more (Service Quotas > AWS Lambda), then set "
        f"{KEY}: true in {stack.config_file.name} and run make deploy again."))


def decide(stack: Stack) -> str | None:
    """The `--config` value for `pulumi up`, or None; notes and warnings go to stderr."""
    config = load_config(stack.config_file)
    if KEY in config:
        return None
    region = region_of(config)
    try:
        client = lambda_client(config, region)
        account = account_concurrency(client)
        held = 0
        # Where reservations can exist at all, the one this stack's function already holds may
        # make the difference.
        if not account.fits() and account.quota > MIN_UNRESERVED:
            held = held_reservation(stack, client)
    except (Unknown, BotoCoreError) as error:
        print(f"warning: could not read this account's Lambda concurrency in {region} ({error}); "
              f"deploying with {KEY} as it is (true, the default).", file=sys.stderr)
        print("warning: should pulumi up stop on \"ReservedConcurrentExecutions ... below its "
              "minimum value\", see ipGuardReserveConcurrency in the README.", file=sys.stderr)
        return None
    if account.fits(held):
        return None
    print(explain(account, held, stack, region), file=sys.stderr)
    return f"{KEY}=false"


def main(argv: list[str]) -> int:
    if argv:
        print("usage: lambda_concurrency.py", file=sys.stderr)
        return 2
    try:
        value = decide(from_environment())
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if value:
        print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
