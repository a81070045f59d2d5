"""solarmonitor: reads the stack config once, composes the components, exports the outputs."""

import pulumi

from components.config import KNOWN_KEYS, ConfigError, parse_settings, raw_from_strings
from components.cost import items_from_settings, monthly_cost
from components.ip_guard import IpGuard, IpGuardArgs
from components.network import Network

config = pulumi.Config("solarmonitor")
try:
    settings = parse_settings(raw_from_strings({key: config.get(key) for key in KNOWN_KEYS}),
                              region=pulumi.Config("aws").get("region"))
except ConfigError as error:
    # RunError ends the program with this one line instead of a traceback.
    raise pulumi.RunError(str(error)) from None

network = Network("network")
guard = IpGuard("ipguard", IpGuardArgs(vpc_id=network.vpc_id,
                                       home_event=settings.home_cidrs.lambda_event(),
                                       region=settings.region))

pulumi.export("securityGroupId", guard.security_group_id)
pulumi.export("ipGuardFunctionName", guard.function_name)
pulumi.export("piAccessKeyId", guard.pi_access_key_id)
pulumi.export("piSecretAccessKey", guard.pi_secret_access_key)
pulumi.export("piAgentConfig", guard.pi_agent_config)
pulumi.export("monthlyCostUsd", monthly_cost(items_from_settings(settings), settings.region))
