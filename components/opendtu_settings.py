"""What to type into OpenDTU's MQTT settings page, field by field, in the page's order.

The labels and their order are the page's (webapp/src/views/MqttAdminView.vue, labels from
webapp/src/locales/en.json "mqttadmin"); the limits are the firmware's (include/Configuration.h:
MQTT_MAX_HOSTNAME_STRLEN 128, MQTT_MAX_USERNAME_STRLEN 64, MQTT_MAX_PASSWORD_STRLEN 64,
MQTT_MAX_TOPIC_STRLEN 32, MQTT_MAX_CERT_STRLEN 2560; checked in src/WebApi_mqtt.cpp).
"""

from __future__ import annotations

MAX_HOSTNAME = 128
MAX_USERNAME = 64
MAX_PASSWORD = 64
MAX_TOPIC = 32  # the base topic, with its trailing slash
MAX_CERT = 2560
PUBLISH_INTERVAL_SECONDS = 5  # OpenDTU's default and minimum (include/defaults.h, WebApi_mqtt.cpp)
# Retain off: a retained value is replayed to every new subscription and Telegraf would stamp
# it with the time it arrives, writing the afternoon's power as "now" into a night-time deploy.
# Telegraf's persistent sessions get every value without it.
RETAIN = False


def settings_page(host: str, port: int, ca_cert: str, username: str, password: str,
                  topic_prefix: str) -> list[dict]:
    """[{"field": label, "value": value}, …] for every field of the page, in order; raises
    ValueError when a value would not fit OpenDTU's field."""
    base_topic = f"{topic_prefix}/"
    for label, value, limit in (("Hostname", host, MAX_HOSTNAME),
                                ("Username", username, MAX_USERNAME),
                                ("Password", password, MAX_PASSWORD),
                                ("Base Topic", base_topic, MAX_TOPIC),
                                ("CA-Root-Certificate", ca_cert, MAX_CERT)):
        if len(value) > limit:
            raise ValueError(f"OpenDTU's {label} field takes {limit} characters, "
                             f"this one has {len(value)}")
    fields = [
        ("Enable MQTT", True),
        ("Enable Home Assistant MQTT Auto Discovery", False),
        ("Hostname", host),
        ("Port", port),
        # Empty: OpenDTU sends its own name, "OpenDTU-" + the chip id in decimal (src/MqttSettings
        # .cpp getClientId, src/NetworkSettings.cpp getApName); any value works, because the
        # broker replaces every client id with the username (components/mqtt_users.py).
        ("Client ID", ""),
        ("Username", username),
        ("Password", password),
        ("Base Topic", base_topic),
        ("Publish Interval", PUBLISH_INTERVAL_SECONDS),
        ("Enable CleanSession flag", True),
        ("Enable Retain Flag", RETAIN),
        ("Enable TLS", True),
        ("CA-Root-Certificate", ca_cert),
        ("Enable TLS Certificate Login", False),
        ("LWT Topic", "dtu/status"),
        ("LWT Online message", "online"),
        ("LWT Offline message", "offline"),
        ("QoS (Quality of Service)", 2),
    ]
    return [{"field": label, "value": value} for label, value in fields]
