"""grafana.ini sets only settings Grafana has. Grafana ignores an unknown section or key, so a
misspelt `cookie_secure` or `allow_sign_up` would silently leave the default (a cookie sent
over HTTP, open sign-up). Each setting below is in Grafana's own conf/defaults.ini
(grafana/grafana d6b85077), except [server] min_tls_version, added by grafana/grafana#67482
(Grafana 10.1) and documented since."""

import configparser

from components.grafana_node import GRAFANA_INI
from conftest import service_files

GRAFANA_SETTINGS = {
    "server": {"protocol", "http_addr", "http_port", "domain", "enforce_domain", "root_url",
               "serve_from_sub_path", "router_logging", "enable_gzip", "cert_file", "cert_key",
               "min_tls_version", "read_timeout"},
    "security": {"disable_initial_admin_creation", "admin_user", "admin_password", "admin_email",
                 "secret_key", "disable_gravatar", "disable_brute_force_login_protection",
                 "cookie_secure", "cookie_samesite", "allow_embedding",
                 "strict_transport_security", "strict_transport_security_max_age_seconds",
                 "x_content_type_options", "x_xss_protection", "content_security_policy"},
    "users": {"allow_sign_up", "allow_org_create", "auto_assign_org", "auto_assign_org_role",
              "default_theme", "viewers_can_edit"},
    "auth.anonymous": {"enabled", "org_name", "org_role", "hide_version"},
    "snapshots": {"enabled", "external_enabled", "public_mode"},
    "analytics": {"reporting_enabled", "check_for_updates", "check_for_plugin_updates",
                  "feedback_links_enabled"},
}


def unknown_settings(text: str) -> list[str]:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(text)
    return [f"{section}.{key}" if section in GRAFANA_SETTINGS else f"[{section}]"
            for section in ini.sections()
            for key in (ini[section] if section in GRAFANA_SETTINGS else [None])
            if section not in GRAFANA_SETTINGS or key not in GRAFANA_SETTINGS[section]]


def test_every_setting_is_one_grafana_has(dev_run):
    text = service_files(dev_run)["grafana"][GRAFANA_INI]
    assert "cookie_secure = true" in text
    assert unknown_settings(text) == []


def test_the_secret_key_is_the_stacks_own_and_https_is_strict(dev_run):
    files = service_files(dev_run)["grafana"]
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(files[GRAFANA_INI])
    security = ini["security"]
    assert security["secret_key"] == "$__file{/etc/grafana/solarmonitor/secret-key}"
    key = dev_run.one("random:index/randomPassword:RandomPassword", "grafana-secret-key")
    assert files["/etc/grafana/solarmonitor/secret-key"] == key.outputs["result"]
    assert len(key.outputs["result"]) >= 32 and key.outputs["result"] != "SW2YcwTIb9zpOOhoPsMm"
    assert security["strict_transport_security"] == "true"
    assert int(security["strict_transport_security_max_age_seconds"]) >= 86400


def test_a_misspelt_setting_or_section_is_found():
    text = "[security]\ncookie_secure = true\ncookie_secur = true\n[user]\nallow_sign_up = false\n"
    assert unknown_settings(text) == ["security.cookie_secur", "[user]"]
