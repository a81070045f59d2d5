"""An MQTT client set up from openDtuSettings, as OpenDTU connects: TLS verified against the
stack's CA (names only, as OpenDTU's mbedTLS does), OpenDTU's login, its will on request.
Shared by `make check` and `make simulate`."""

from __future__ import annotations

import ssl
import time

import paho.mqtt.client as mqtt


def opendtu_client(settings: dict, client_id: str, will: bool = False) -> mqtt.Client:
    """A client for the settings page `settings` ({field label: value}); with `will`, OpenDTU's
    last will (LWT Topic, Offline message, its QoS, the retain flag)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=settings["Enable CleanSession flag"])
    client.username_pw_set(settings["Username"], settings["Password"])
    client.tls_set_context(ssl.create_default_context(cadata=settings["CA-Root-Certificate"]))
    if will:
        client.will_set(settings["Base Topic"] + settings["LWT Topic"],
                        settings["LWT Offline message"], qos=settings["QoS (Quality of Service)"],
                        retain=settings["Enable Retain Flag"])
    return client


def connect(client: mqtt.Client, settings: dict, timeout: float = 10) -> str | None:
    """Connects and starts the client's loop; None when the broker accepted, else why not."""
    answers = []
    client.on_connect = lambda c, u, flags, reason, p: answers.append(reason)
    where = f"{settings['Hostname']}:{settings['Port']}"
    try:
        client.connect(settings["Hostname"], int(settings["Port"]), keepalive=30)
    except ssl.SSLCertVerificationError as error:
        return f"TLS: {error.verify_message} ({where})"
    except (OSError, ssl.SSLError) as error:
        return f"no TLS connection to {where}: {error}"
    client.loop_start()
    deadline = time.monotonic() + timeout
    while not answers and time.monotonic() < deadline:
        time.sleep(0.05)
    if not answers or answers[0].is_failure:
        client.loop_stop()
        client.disconnect()
        return f"the broker refused the login: {answers[0] if answers else 'no answer'}"
    return None
