"""OpenDTU's TLS library against the rendered broker: Debian's mbedTLS 2.28 (the line ESP-IDF
4.4 ships in OpenDTU's firmware) verifies the broker's certificate with the host name the user
types into OpenDTU. Grafana's certificate is checked the same way with Python's ssl, trusted as
the browser trusts it (grafanaCert)."""

import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509

from broker import Broker, OpenDtu, self_signed, write_etc
from conftest import dev_config, host_eip, service_files
from tools.mock_engine import run_program


def settings_of(run) -> dict:
    return {entry["field"]: entry["value"] for entry in run.outputs["openDtuSettings"]}


@pytest.fixture(scope="module")
def program(dev_run):
    return dev_run


@pytest.fixture
def broker(program, tmp_path):
    broker = Broker(write_etc(service_files(program)["mqtt"], tmp_path / "etc")).start()
    yield broker
    broker.cleanup()


@pytest.fixture
def opendtu(mbedtls_client, broker, program, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(settings_of(program)["CA-Root-Certificate"])
    return OpenDtu(mbedtls_client, broker, ca_file)


def test_opendtu_connects_with_exactly_what_opendtu_settings_says(program, opendtu):
    page = settings_of(program)
    assert page["Hostname"] == program.outputs["mqttHost"]
    done = opendtu.connect(page["Hostname"], page["Username"], page["Password"],
                           prefix=page["Base Topic"], retain=page["Enable Retain Flag"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "CONNACK 0"


def test_the_host_name_is_a_public_name_not_an_address(program):
    host = program.outputs["mqttHost"]
    with pytest.raises(ValueError):
        ipaddress.ip_address(host)
    assert host == host_eip(program, "mqtt").outputs["publicDns"]


def test_typing_the_ip_address_works_too(program, opendtu):
    page = settings_of(program)
    address = host_eip(program, "mqtt").outputs["publicIp"]
    done = opendtu.connect(address, page["Username"], page["Password"])
    assert done.stdout.strip() == "CONNACK 0", done.stdout


def test_a_wrong_host_name_fails_verification(program, opendtu):
    page = settings_of(program)
    done = opendtu.connect("mqtt.example.org", page["Username"], page["Password"])
    assert done.returncode == 2 and "CN" in done.stdout, done.stdout


def test_a_wrong_password_is_refused_after_the_handshake(program, opendtu):
    done = opendtu.connect(settings_of(program)["Hostname"], "opendtu", "wrong")
    assert done.returncode == 3 and done.stdout.strip() == "CONNACK 5"


def test_why_it_matters_mbedtls_ignores_ip_sans(mbedtls_client, tmp_path, broker):
    """The certificate the first version made (IP SANs only) fails with OpenDTU's library, even
    for the very address it names: the reason the broker's certificate names DNS-type names."""
    key, cert = self_signed("solarmonitor-mqtt", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    broker.stop()
    (broker.etc / "certs/server.crt").write_bytes(cert)
    (broker.etc / "certs/server.key").write_bytes(key)
    (broker.etc / "certs/ca.crt").write_bytes(cert)
    broker.start()
    ca_file = tmp_path / "self.pem"
    ca_file.write_bytes(cert)
    done = OpenDtu(mbedtls_client, broker, ca_file).connect("127.0.0.1", "opendtu", "x")
    assert done.returncode == 2 and "CN" in done.stdout, done.stdout


# What OpenDTU's mbedTLS offers for the broker's ECDSA key: arduino-esp32 2.0 builds ESP-IDF 4.4
# with AES (GCM, CCM, CBC) and every key exchange, without ChaCha20-Poly1305
# (tools/sdk/esp32/sdkconfig: CONFIG_MBEDTLS_GCM_C=y, CONFIG_MBEDTLS_CCM_C=y,
# CONFIG_MBEDTLS_CHACHA20_C is not set).
OPENDTU_ECDSA_SUITES = tuple(f"TLS-ECDHE-ECDSA-WITH-AES-{bits}-{mode}" for bits in (256, 128)
                             for mode in ("GCM-SHA" + ("384" if bits == 256 else "256"), "CCM",
                                          "CBC-SHA" + ("384" if bits == 256 else "256"),
                                          "CBC-SHA"))
CBC_SHA1 = ("TLS-ECDHE-ECDSA-WITH-AES-256-CBC-SHA", "TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA")


def test_opendtus_suites_connect_and_cbc_sha1_is_refused(program, opendtu):
    page = settings_of(program)
    done = opendtu.connect(page["Hostname"], page["Username"], page["Password"],
                           ciphersuites=OPENDTU_ECDSA_SUITES)
    assert done.stdout.strip() == "CONNACK 0", done.stdout
    for suites in (CBC_SHA1, tuple(s for s in OPENDTU_ECDSA_SUITES if "CBC" in s)):
        done = opendtu.connect(page["Hostname"], page["Username"], page["Password"],
                               ciphersuites=suites)
        assert done.returncode == 2 and done.stdout.startswith("TLS"), (suites, done.stdout)


def test_a_domain_puts_its_name_in_the_certificate(mbedtls_client, tmp_path):
    result = run_program(dev_config(domain="solar.example.org"))
    page = settings_of(result)
    assert page["Hostname"] == result.outputs["mqttHost"] == "mqtt.solar.example.org"
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(page["CA-Root-Certificate"])
    with Broker(write_etc(service_files(result)["mqtt"], tmp_path / "etc")) as broker:
        client = OpenDtu(mbedtls_client, broker, ca_file)
        for host in ("mqtt.solar.example.org",
                     host_eip(result, "mqtt").outputs["publicDns"]):
            done = client.connect(host, page["Username"], page["Password"])
            assert done.stdout.strip() == "CONNACK 0", (host, done.stdout)


# --- Grafana: the same question for a browser, with Python's ssl -----------------------------

def serve_tls_once(cert_file, key_file) -> int:
    """A TLS server on loopback with Grafana's rendered certificate; one handshake, then done."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def accept():
        try:
            connection, _ = listener.accept()
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass
        finally:
            listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


@pytest.mark.parametrize("which", ["url", "address", "wrong"])
def test_grafanas_certificate_verifies_for_its_url(program, tmp_path, which):
    files = service_files(program)["grafana"]
    for name in ("server.crt", "server.key"):
        (tmp_path / name).write_text(files[f"/etc/grafana/solarmonitor/{name}"])
    host = {"url": program.outputs["grafanaUrl"].split("//")[1].split(":")[0],
            "address": host_eip(program, "grafana").outputs["publicIp"],
            "wrong": "grafana.example.org"}[which]
    port = serve_tls_once(tmp_path / "server.crt", tmp_path / "server.key")
    # The browser trusts Grafana's own certificate (grafanaCert), not the stack's CA.
    client = ssl.create_default_context(cadata=program.outputs["grafanaCert"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        if which == "wrong":
            with pytest.raises(ssl.SSLCertVerificationError):
                client.wrap_socket(raw, server_hostname=host)
        else:
            with client.wrap_socket(raw, server_hostname=host) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
                tls.sendall(b"x")
