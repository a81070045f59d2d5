"""The cloud side of the Solix bridge: Solarbanks read from Anker's cloud, as the Anker app reads
them. The Solarbank E1600 (gen 1, A17C0) has no local interface; this is the only way to read it.

It knows nothing of MQTT: it hands over `Reading`s, like the Bluetooth source (solix_source.py),
so both land under the same topics, in the same Telegraf measurement, with the same field names.

The protocol, as documented by thomluther/anker-solix-api (MIT; src/anker_solix_api/ at
980d7c28; not a dependency, nothing of its code is used here):
- Every request is a POST of JSON with fixed headers (apitypes.py:15 API_HEADERS) plus
  `country` and `timezone` (session.py:245 generate_header); after the login also
  `x-auth-token` and `gtoken`, the MD5 hex of the user id (session.py:416).
- Login, `/passport/login` (session.py:370): the password encrypted with AES-256-CBC, PKCS7,
  base64; key = the raw ECDH P-256 secret between a fresh client key pair and the server's
  published key, IV = its first 16 bytes (session.py:48 the key, :774 `_encryptApiData`).
- The server's answer carries `code` (0 = fine) and `msg`; an expired or replaced token is
  answered with HTTP 401/403 (session.py:638 logs in again on those) or code 26084 "token kicked
  out" (errors.py:113); tokens carry `token_expires_at` (session.py:439 renews 60 s before).
- Sites: `get_site_list`; live values: `get_scen_info` per site (apitypes.py:105, :109).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import logging
import math
import re
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from solix_source import Reading

LOG = logging.getLogger("solix")

EU_SERVER = "https://ankerpower-api-eu.anker.com"
COM_SERVER = "https://ankerpower-api.anker.com"
# Countries served by the COM server (apitypes.py:23 API_COUNTRIES["com"]); every other country
# goes to the EU server, as anker-solix-api does for countries it does not list (session.py:64).
COM_COUNTRIES = frozenset((
    "DZ", "LB", "SY", "EG", "LY", "TN", "MA", "JO", "PS", "AR", "AU", "BR", "HK", "IN", "MX",
    "NG", "NZ", "RU", "SG", "ZA", "KR", "TW", "US", "CA"))
# The public key Anker's servers publish for the login's key exchange (session.py:48): an
# uncompressed P-256 point.
ANKER_PUBLIC_KEY = ("04c5c00c4f8d1197cc7c3167c52bf7acb054d722f0ef08dcd7e0883236e0d72a3868d9750c"
                    "b47fa4619248f3d83f0f662671dadc6e2d31c2f41db0161651c7c076")
LOGIN = "/passport/login"
SITE_LIST = "/power_service/v1/site/get_site_list"
SCENE_INFO = "/power_service/v1/site/get_scen_info"  # sic
HEADERS = {"content-type": "application/json", "model-type": "DESKTOP",
           "app-name": "anker_power", "os-type": "android"}
TOKEN_REJECTED_CODES = {401, 403, 26084}
# What a server says when it cannot answer now, whatever the request: too many requests,
# connect/network/server errors, busy (errors.py:95-105); anker-solix-api retries 502/504/522 and
# busy at once (session.py:698, :734). At the login these say nothing about the password.
UNAVAILABLE_CODES = {429, 502, 504, 522, 997, 998, 999, 21105}
RENEW_BEFORE_SECONDS = 60
TIMEOUT_SECONDS = 30
MAX_ANSWER = 1024 * 1024
DEFAULT_INTERVAL = 60.0  # the cloud updates a system at most once a minute (README "update_sites")
MAX_BACKOFF_SECONDS = 900.0
# A refused login is tried again only hourly: repeated failed logins lock the account for a day
# (errors.py:119, code 100053 "try again in 24 hours"); a changed config restarts the bridge.
LOGIN_RETRY_SECONDS = 3600.0
SAFE_LEVEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what may become an MQTT topic level
# A site whose values' `updated_time` has not moved for this long is not published: its
# Solarbank stopped reporting, and the cloud would hand over the same old values as "now". Three
# times the slowest refresh anker-solix-api's README reports (5 minutes).
STALE_SECONDS = 15 * 60
# `updated_time` that says nothing: anker-solix-api sees "1970-01-01 00:00:00" even with valid
# values (poller.py:224); the scene's own top-level one reads "01-01-0001 00:00:00".
UNKNOWN_TIME = re.compile(r"^(|1970-.*|0001-.*|01-01-0001.*)$")

# A Solarbank entry's values that mean what SolixBLE's property of that name means (W or %):
# `battery_power` is the state of charge in % (api.py:363), `photovoltaic_power` the solar input,
# `output_power` the output to the inverter. `bat_charge_power`/`bat_discharge_power` "seem to
# reflect the positive charging/discharging power", the app's per-Solarbank values (poller.py:385).
# Not published: `charging_power`, which in every recording equals `output_power` (poller.py:383:
# "seems to reflect the output or discharge power"), so it is not the battery's charge power.
PERCENT = {"battery_percentage": "battery_power"}
WATTS = {"solar_power_in": "photovoltaic_power", "power_out": "output_power",
         "battery_charge_power": "bat_charge_power",
         "battery_discharge_power": "bat_discharge_power"}
PV_INPUTS = 4  # newer entries carry `pv_power: {pv1..pv4, total}` (SB3_Multisystem recording)


class CloudError(Exception):
    """The cloud could not be read; str() is one line that names the server."""


class LoginRefused(CloudError):
    """The cloud refused the login (wrong email or password, a locked account)."""


class TokenRejected(CloudError):
    """The cloud no longer accepts the token (expired, or replaced by another login)."""


@dataclass(frozen=True)
class CloudSettings:
    email: str
    password: str = field(repr=False)
    country: str = field(kw_only=True)
    """The account's ISO country code (the login and every request name it)."""
    server: str = EU_SERVER
    server_public_key: str = ANKER_PUBLIC_KEY
    ca_file: str | None = None
    interval: float = DEFAULT_INTERVAL


def server_for(country: str) -> str:
    return COM_SERVER if country in COM_COUNTRIES else EU_SERVER


def public_key(hex_point: str):
    """The P-256 public key of an uncompressed point in hex; ValueError when it is none."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        point = bytes.fromhex(hex_point)
    except ValueError:
        raise ValueError("not hex") from None
    if len(point) != 65 or point[0] != 4:
        raise ValueError("not an uncompressed P-256 point (65 bytes starting with 04)")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def parse_settings(section: Mapping[str, str]) -> CloudSettings:
    """[solix_cloud] as the bridge reads it; ValueError names the setting and what it expects."""
    def value(key: str) -> str:
        return str(section.get(key, "") or "").strip()

    email = value("email")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise ValueError(f"[solix_cloud] email: got {email!r}; expected the Anker account's email")
    # Taken as the INI reader gives it (it strips surrounding spaces: the stack refuses those).
    password = str(section.get("password", "") or "")
    if not password:
        raise ValueError("[solix_cloud] password: missing; expected the Anker account's password")
    country = value("country").upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"[solix_cloud] country: got {value('country')!r}; expected the "
                         "account's ISO country code, such as DE")
    server = value("server").rstrip("/") or server_for(country)
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d{1,5})?", server):
        raise ValueError(f"[solix_cloud] server: got {server!r}; expected an https:// base URL "
                         f"such as {EU_SERVER}")
    key = value("server_public_key").lower() or ANKER_PUBLIC_KEY
    try:
        public_key(key)
    except ValueError as error:
        raise ValueError(f"[solix_cloud] server_public_key: {error}") from None
    ca_file = value("ca_file") or None
    if ca_file:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"[solix_cloud] ca_file: {ca_file}: not a readable CA bundle "
                             f"({one_line(error, 80)})") from None
    try:
        interval = float(value("interval") or DEFAULT_INTERVAL)
    except ValueError:
        interval = -1.0
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"[solix_cloud] interval: got {value('interval')!r}; expected a "
                         "positive number of seconds (default 60)")
    return CloudSettings(email=email, password=password, country=country, server=server,
                         server_public_key=key, ca_file=ca_file, interval=interval)


def encrypt_password(password: str, server_key_hex: str) -> tuple[str, str]:
    """(the fresh client public key as uncompressed hex, the password as the login sends it)."""
    from cryptography.hazmat.primitives import padding, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    private = ec.generate_private_key(ec.SECP256R1())
    secret = private.exchange(ec.ECDH(), public_key(server_key_hex))
    padder = padding.PKCS7(128).padder()
    padded = padder.update(password.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(secret[:16])).encryptor()
    sealed = encryptor.update(padded) + encryptor.finalize()
    client = private.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    return client.hex(), base64.b64encode(sealed).decode()


def utc_offset() -> tuple[str, int]:
    """The local UTC offset as the `timezone` header writes it (GMT+01:00) and in ms."""
    offset = datetime.now().astimezone().utcoffset()
    seconds = int(offset.total_seconds()) if offset else 0
    sign, minutes = ("+" if seconds >= 0 else "-"), abs(seconds) // 60
    return f"GMT{sign}{minutes // 60:02d}:{minutes % 60:02d}", seconds * 1000


def one_line(text: Any, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


# --- the values of a scene ------------------------------------------------------------------

def number(value: Any) -> int | float | None:
    """A finite number from the cloud's strings ("75", "0.00"); None for "", booleans, others."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    try:
        parsed = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(parsed):
        return None
    return int(parsed) if parsed.is_integer() else parsed


def solarbank_reading(entry: Mapping[str, Any]) -> tuple[Reading | None, str | None]:
    """One `solarbank_list` entry as a Reading, or None and why it gives none."""
    serial, model = str(entry.get("device_sn") or ""), str(entry.get("device_pn") or "")
    if not SAFE_LEVEL.match(serial):
        return None, f"a Solarbank with serial {one_line(serial, 40)!r} cannot be a topic; skipped"
    if not SAFE_LEVEL.match(model):
        model = "unknown"
    # "0" is offline, "1" online, the device's cloud connection (apitypes.py:1623): an offline
    # device's values are its last ones, not now's, and a late value is a wrong value.
    if str(entry.get("status", "1")) == "0":
        return None, f"{serial} ({model}) is offline in the cloud; its last values are not sent"
    # The app does not show it: `is_display` is false exactly in the two recordings anker-solix-api
    # names invalid (examples/SB2_SM_AiMode_Schedule_invalid, SB2_SM_NoPvEnergy_Invalid), all 0 %.
    if entry.get("is_display") is False:
        return None, f"{serial} ({model}): the cloud does not display its values; not sent"
    numbers: dict[str, int | float] = {}
    for name, key in PERCENT.items():
        value = number(entry.get(key))
        if value is not None and 0 <= value <= 100:
            numbers[name] = value
    if str(entry.get("power_unit") or "W") == "W":
        pv = entry.get("pv_power") if isinstance(entry.get("pv_power"), Mapping) else {}
        inputs = {f"solar_pv_{n}_power_in": pv.get(f"pv{n}") for n in range(1, PV_INPUTS + 1)}
        watts = {name: entry.get(key) for name, key in WATTS.items()}
        # Where `pv_power` has a total, it is the solar input: a multisystem's
        # `photovoltaic_power` is wrong (poller.py:375-377 takes the total instead).
        if number(pv.get("total")) is not None:
            watts["solar_power_in"] = pv.get("total")
        for name, value in [*watts.items(), *inputs.items()]:
            value = number(value)
            if value is not None and value >= 0:
                numbers[name] = value
    if not numbers:
        return None, f"{serial} ({model}): no values in the cloud's answer"
    return Reading(serial=serial, model=model, numbers=numbers), None


def solarbank_info(scene: Mapping[str, Any]) -> Mapping[str, Any]:
    info = scene.get("solarbank_info")
    return info if isinstance(info, Mapping) else {}


def scene_readings(site_id: str, scene: Mapping[str, Any]) -> tuple[list[Reading], list[str]]:
    """The Solarbanks of one site's scene info, and notes on what was left out."""
    info = solarbank_info(scene)
    listed = info.get("solarbank_list")  # null, "" or false when a site has none
    entries = [e for e in listed if isinstance(e, Mapping)] if isinstance(listed, list) else []
    # The cloud marks a site's Solarbank values invalid with is_display_data false (poller.py:199).
    if entries and info.get("is_display_data") is False:
        return [], [f"site {site_id}: the cloud marks its Solarbank values invalid; none sent"]
    readings, notes = [], []
    for entry in entries:
        reading, note = solarbank_reading(entry)
        if reading:
            readings.append(reading)
        if note:
            notes.append(note)
    return readings, notes


@dataclass
class CloudRead:
    """One round: the Solarbanks read, notes (left out, and why), errors (sites not read)."""
    readings: list[Reading]
    notes: list[str]
    errors: list[str]
    sites_read: int = 0
    """Sites whose scene the cloud answered: with one, the cloud works, whatever the others do."""


# --- the client ---------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to send the token and the password to."""

    def redirect_request(self, *args, **kwargs):
        return None


class CloudClient:
    """Anker's cloud for one account: logs in when needed, lists the sites, reads their scenes."""

    def __init__(self, settings: CloudSettings):
        self.settings = settings
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"[solix_cloud] ca_file: {settings.ca_file}: {error}") from None
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                                  _NoRedirect())
        self.token: str | None = None
        self.gtoken: str | None = None
        self.expires_at = 0.0
        self.logins = 0
        self.stamps: dict[str, tuple[str, float]] = {}  # site -> (updated_time, seen since)

    @property
    def name(self) -> str:
        return f"cloud {self.settings.server}"

    def _headers(self) -> dict[str, str]:
        zone, _ = utc_offset()
        headers = {**HEADERS, "country": self.settings.country, "timezone": zone}
        if self.token:
            headers.update({"x-auth-token": self.token, "gtoken": self.gtoken or ""})
        return headers

    def _post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.settings.server + path, method="POST",
                                         data=json.dumps(body).encode(), headers=self._headers())
        try:
            with self.opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                status, text = response.status, response.read(MAX_ANSWER)
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read(MAX_ANSWER)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = one_line(getattr(error, "reason", error)) or type(error).__name__
            raise CloudError(f"{self.name} unreachable: {reason}") from None
        try:
            answer = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError):  # nested deeper than Python
            answer = None
        if not isinstance(answer, dict):
            answer = {"msg": "not a JSON answer"}
        code = number(answer.get("code"))  # a number, sometimes written as a string
        message = one_line(answer.get("msg") or f"HTTP {status}")
        said = f"{message} ({'' if code is None else f'code {code}, '}HTTP {status})"
        fine = 200 <= status < 300 and code == 0
        if path == LOGIN and not fine:
            unavailable = (status >= 500 or status == 429 or code in UNAVAILABLE_CODES
                           or (code is None and status not in (401, 403)))
            if unavailable:
                raise CloudError(f"{self.name}: the login of {self.settings.email} failed: "
                                 f"{said}")
            raise LoginRefused(f"{self.name} refused the login of {self.settings.email}: {said}")
        if status in (401, 403) or code in TOKEN_REJECTED_CODES:
            raise TokenRejected(f"{self.name} rejected the token: {said}")
        if not fine:
            raise CloudError(f"{self.name}: {path} failed: {said}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise CloudError(f"{self.name}: {path} answered without data")
        return data

    def login(self) -> None:
        """Logs in with a fresh key pair (LoginRefused when the cloud says no)."""
        client_key, password = encrypt_password(self.settings.password,
                                                self.settings.server_public_key)
        _, offset_ms = utc_offset()
        self.token = None
        data = self._post(LOGIN, {
            "ab": self.settings.country, "client_secret_info": {"public_key": client_key},
            "enc": 0, "email": self.settings.email, "password": password,
            "time_zone": offset_ms, "transaction": str(int(time.time() * 1000))})
        token, user_id = data.get("auth_token"), data.get("user_id")
        if not token or not user_id:
            raise LoginRefused(f"{self.name} answered the login of {self.settings.email} "
                               "without a token")
        self.token, self.gtoken = str(token), hashlib.md5(str(user_id).encode()).hexdigest()
        self.expires_at = number(data.get("token_expires_at")) or 0.0
        self.logins += 1

    def request(self, path: str, body: dict) -> dict:
        """A request with a valid token: logs in first when there is none or it is about to
        expire, and once more when the cloud rejects it."""
        expiring = self.expires_at and self.expires_at - time.time() < RENEW_BEFORE_SECONDS
        if not self.token or expiring:
            self.login()
        try:
            return self._post(path, body)
        except TokenRejected as rejected:
            LOG.info("%s; logging in again", rejected)
            self.login()
            return self._post(path, body)

    def _stale(self, site_id: str, scene: Mapping[str, Any]) -> str | None:
        """Why a site's values are too old to send, or None (a time that says nothing: None)."""
        stamp = one_line(solarbank_info(scene).get("updated_time") or "", 40)
        if UNKNOWN_TIME.match(stamp):
            return None
        now = time.monotonic()
        if self.stamps.get(site_id, ("", 0.0))[0] != stamp:
            self.stamps[site_id] = (stamp, now)
        unchanged = now - self.stamps[site_id][1]
        if unchanged > STALE_SECONDS:
            # The same words every round, so the service logs it once (no running count).
            return (f"site {site_id}: its Solarbank values have not changed since {stamp} "
                    f"({STALE_SECONDS // 60} min or more); not sent until they do")
        return None

    def read(self) -> CloudRead:
        """Every Solarbank of every site of the account. Raises CloudError when the account or
        its site list cannot be read; a site whose scene cannot be read is one of the errors."""
        sites = self.request(SITE_LIST, {}).get("site_list")
        if not isinstance(sites, list):
            raise CloudError(f"{self.name}: {SITE_LIST} answered without a site_list")
        result, seen = CloudRead([], [], []), set()
        if not sites:  # also what the other region's server answers (session.py:103)
            result.notes.append(
                f"{self.name} lists no site (system) for {self.settings.email}: share one with "
                "this account in the Anker app, or check its country (solixCloud.country): the "
                "other region's server lists none")
        for site in sites:
            site_id = site.get("site_id") if isinstance(site, Mapping) else None
            if not isinstance(site_id, str) or not site_id:
                continue
            try:
                scene = self.request(SCENE_INFO, {"site_id": site_id})
            except LoginRefused:
                raise
            except CloudError as error:
                result.errors.append(f"site {site_id}: {error}")
                continue
            result.sites_read += 1
            stale = self._stale(site_id, scene)
            if stale:
                result.notes.append(stale)
                continue
            readings, notes = scene_readings(site_id, scene)
            result.notes += notes
            for reading in readings:  # a Solarbank in two sites (shared) is sent once
                if reading.serial not in seen:
                    seen.add(reading.serial)
                    result.readings.append(reading)
        return result


class CloudPoller:
    """The service's cloud loop: reads every `interval`, hands each reading to `publish`, logs a
    problem once when it appears or changes (and once when it is gone), and waits longer while
    the cloud fails: doubling up to MAX_BACKOFF_SECONDS, an hour after a refused login."""

    def __init__(self, client: CloudClient, publish: Callable[[Reading], None]):
        self.client, self.publish = client, publish
        self.interval = client.settings.interval
        self.failures = 0
        self.problems: list[str] = []
        self.serials: list[str] = []

    async def run(self) -> None:
        while True:
            try:
                result, failure = await asyncio.to_thread(self.client.read), None
            except CloudError as error:
                result, failure = None, error
            await asyncio.sleep(self.settle(result, failure))

    def settle(self, result: CloudRead | None, failure: CloudError | None) -> float:
        """Publishes and logs one round; the seconds to wait before the next."""
        for reading in result.readings if result else []:
            self.publish(reading)
        problems = [str(failure)] if failure else [*result.errors, *result.notes]
        if problems != self.problems:
            for line in problems:
                LOG.warning("%s", line)
            if not problems:
                LOG.info("%s: read again without problems", self.client.name)
            self.problems = problems
        serials = sorted(r.serial for r in result.readings) if result else self.serials
        if serials != self.serials:
            LOG.info("%s: Solarbanks %s", self.client.name, ", ".join(serials) or "none")
            self.serials = serials
        if isinstance(failure, LoginRefused):
            self.failures += 1
            return max(LOGIN_RETRY_SECONDS, self.interval)
        # Backs off when the cloud fails, not when one site does while others answer (a site
        # that keeps failing would hold back every Solarbank of the account).
        if failure or (result and result.errors and not result.sites_read):
            self.failures += 1
            return max(self.interval, min(self.interval * 2 ** self.failures, MAX_BACKOFF_SECONDS))
        self.failures = 0
        return self.interval
