"""One component built on its own under the mock engine, as pulumi-awsx tests its components:
the template for the next node's tests. No `__main__.py`, no config; plain inputs in, recorded
resources out."""

from components.certificates import CertificateAuthority
from components.config import NodeSpec
from components.host import Host, HostArgs, Placement
from components.mqtt_broker import MqttBroker, MqttBrokerArgs
from components.mqtt_users import MqttUser
from tools.mock_engine import SECRET, run

PUBLISHER = MqttUser("meter", "A meter publishes its readings.", publishes=("meter/#",))
READER = MqttUser("reader", "Reads the meter.", reads=("meter/#",))


def build_broker():
    placement = Placement(node="mqtt", spec=NodeSpec("t4g.nano", True, 8), subnet_id="subnet-1",
                          security_group_ids=["sg-1"], key_name="key", private_key="not-a-key")
    host = Host("broker-host", HostArgs(placement=placement))
    MqttBroker("broker", MqttBrokerArgs(host=host, ca=CertificateAuthority("ca"),
                                        users=(PUBLISHER, READER), topic_prefix="home"))


def test_a_broker_alone_renders_its_users_into_acl_and_password_file():
    result = run(build_broker)
    acl = result.one("command:remote:Command", "broker-file-etc-mosquitto-acl")
    # Its subtree, but never OpenDTU's commands (home/meter/cmd/... would match them).
    assert ("user meter\ntopic deny home/+/cmd/#\ntopic write home/meter/#\n"
            in acl.raw_inputs["stdin"])
    assert "user reader\ntopic read home/meter/#\n" in acl.raw_inputs["stdin"]
    passwd = result.one("command:remote:Command", "broker-file-etc-mosquitto-passwd")
    assert passwd.inputs["stdin"] == SECRET and passwd.inputs["logging"] == "none"
    users = [line.split(":")[0] for line in passwd.raw_inputs["stdin"].splitlines()]
    assert users == ["meter", "reader"]
    for user in ("meter", "reader"):
        assert result.one("random:index/randomPassword:RandomPassword", f"broker-{user}-password")
    instance = result.one("aws:ec2/instance:Instance", "broker-host-instance")
    assert instance.raw_inputs["subnetId"] == "subnet-1"
    assert instance.raw_inputs["tags"]["solarmonitor:node"] == "mqtt"


def test_a_run_after_asyncio_run_gets_an_event_loop():
    """A test before may have run asyncio.run (the battery bridge does), which leaves the thread
    with no current event loop; the next program run must still work."""
    import asyncio
    asyncio.run(asyncio.sleep(0))
    result = run(build_broker)
    assert result.one("command:remote:Command", "broker-file-etc-mosquitto-acl")
