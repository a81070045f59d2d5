"""The `openDtuSettings` output: OpenDTU's MQTT page, field by field, and the limits of its
fields (tbnobody/OpenDTU include/Configuration.h, src/WebApi_mqtt.cpp) applied to the config."""

import pytest

from components.config import ConfigError, parse_settings
from components.opendtu_settings import settings_page

# The page's fields in order (webapp/src/views/MqttAdminView.vue, labels from locales/en.json).
PAGE = ["Enable MQTT", "Enable Home Assistant MQTT Auto Discovery", "Hostname", "Port",
        "Client ID", "Username", "Password", "Base Topic", "Publish Interval",
        "Enable CleanSession flag", "Enable Retain Flag", "Enable TLS", "CA-Root-Certificate",
        "Enable TLS Certificate Login", "LWT Topic", "LWT Online message", "LWT Offline message",
        "QoS (Quality of Service)"]


def test_the_page_in_order_with_the_stacks_values(dev_run):
    entries = dev_run.outputs["openDtuSettings"]
    assert [entry["field"] for entry in entries] == PAGE
    page = {entry["field"]: entry["value"] for entry in entries}
    assert page["Hostname"] == dev_run.outputs["mqttHost"]
    assert page["Port"] == dev_run.outputs["mqttPort"] == 8883
    assert page["Username"] == dev_run.outputs["openDtuMqttUser"]
    assert page["Password"] == dev_run.outputs["openDtuMqttPassword"]
    assert page["CA-Root-Certificate"] == dev_run.outputs["caCert"]
    assert page["Base Topic"] == "solar/"
    assert page["Enable TLS"] is True and page["Enable Retain Flag"] is False
    assert page["Publish Interval"] == 5 and page["LWT Topic"] == "dtu/status"


def test_it_is_a_secret_and_the_plan_masks_it(dev_run):
    assert "openDtuSettings" in dev_run.secret_outputs
    assert dev_run.masked_outputs()["openDtuSettings"] == "[secret]"


def test_every_value_fits_its_field(dev_run):
    page = {entry["field"]: entry["value"] for entry in dev_run.outputs["openDtuSettings"]}
    assert len(page["Hostname"]) <= 128 and len(page["CA-Root-Certificate"]) <= 2560
    assert len(page["Username"]) <= 64 and len(page["Password"]) <= 64
    assert len(page["Base Topic"]) <= 32 and page["Base Topic"].endswith("/")


def test_a_value_too_long_for_its_field_is_refused():
    with pytest.raises(ValueError, match="Hostname field takes 128"):
        settings_page("h" * 129, 8883, "ca", "opendtu", "pw", "solar")
    with pytest.raises(ValueError, match="CA-Root-Certificate field takes 2560"):
        settings_page("host", 8883, "c" * 2561, "opendtu", "pw", "solar")


@pytest.mark.parametrize("prefix, ok", [("p" * 31, True), ("p" * 32, False),
                                        ("p" * 31 + "/", True), ("a/" + "b" * 29, True),
                                        ("a/" + "b" * 30, False)])
def test_topic_prefix_fits_opendtus_base_topic_with_its_slash(prefix, ok):
    raw = {"homeCidrs": ["1.2.3.4/32"], "topicPrefix": prefix}
    if ok:
        assert len(parse_settings(raw, "eu-central-1").topic_prefix + "/") <= 32
    else:
        with pytest.raises(ConfigError, match="solarmonitor:topicPrefix"):
            parse_settings(raw, "eu-central-1")


def test_a_domain_whose_mqtt_name_would_not_fit_is_refused():
    label = "a" * 60
    fits = ".".join([label, label]) + ".org"  # 124 characters: mqtt.<it> is 129
    with pytest.raises(ConfigError, match="solarmonitor:domain"):
        parse_settings({"homeCidrs": ["1.2.3.4/32"], "domain": fits}, "eu-central-1")
    shorter = ".".join([label, "b" * 58]) + ".org"  # 123: mqtt.<it> is 128
    assert parse_settings({"homeCidrs": ["1.2.3.4/32"], "domain": shorter},
                          "eu-central-1").domain == shorter
