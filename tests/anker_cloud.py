"""A stand-in of Anker's cloud (ours: the real one is not reachable from here), over HTTPS on
loopback with a throwaway CA, following the protocol as thomluther/anker-solix-api documents it
(src/anker_solix_api/ at 980d7c28: session.py, apitypes.py; summarised in pi/solix_cloud.py):
- it has a P-256 key pair of its own; the bridge is given its public key as `server_public_key`
  and really must encrypt the password to it: the stand-in derives the same ECDH secret from the
  client's public key and DECRYPTS the password (AES-256-CBC, IV = the secret's first 16 bytes,
  PKCS7) before it compares it;
- it checks every request's headers and the login's body, and records what does not match in
  `violations` (a test asserts there are none);
- it serves `site_list.json` and `scene_<site_id>.json` of the fixture folders it is given.
What the real cloud answers to a wrong password or an expired token is not recorded anywhere we
can read; the stand-in answers both ways the client must understand (session.py:638, errors.py).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import secrets
import time
from pathlib import Path

from loopback_http import Server

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "anker-cloud"
LOGIN_KEYS = {"ab", "client_secret_info", "enc", "email", "password", "time_zone", "transaction"}
FIXED_HEADERS = {"content-type": "application/json", "model-type": "DESKTOP",
                 "app-name": "anker_power", "os-type": "android"}


def throwaway_ca(name: str = "localhost") -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server key, server certificate for `name` signed by that CA), PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throwaway test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(pem))


def answers(*folders: str) -> tuple[list[dict], dict[str, dict]]:
    """The site list entries and the scene answers by site id, of fixture folders."""
    sites, scenes = [], {}
    for folder in folders:
        path = FIXTURES / folder
        sites += json.loads((path / "site_list.json").read_text())["data"]["site_list"]
        for scene in path.glob("scene_*.json"):
            scenes[scene.stem.removeprefix("scene_")] = json.loads(scene.read_text())
    return sites, scenes


class StandInCloud:
    """The cloud for one account (`email`, `password`, `country`), serving `folders`."""

    def __init__(self, tmp_path: Path, *folders: str, email: str = "owner@example.org",
                 password: str = "s3cr%t pass;#word", country: str = "DE",
                 token_seconds: float = 7 * 86400):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.email, self.password, self.country = email, password, country
        self.token_seconds = token_seconds
        self.sites, self.scenes = answers(*folders)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_key_hex = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint).hex()
        ca, key, cert = throwaway_ca()
        self.ca_file = tmp_path / "cloud-ca.pem"
        self.ca_file.write_bytes(ca)
        self.user_id = secrets.token_hex(20)
        self.tokens: dict[str, float] = {}  # token -> when it expires
        self.passwords: list[str] = []  # every password a login decrypted to
        self.violations: list[str] = []
        # How it says no: to a wrong password, to an expired token (HTTP status, code).
        self.refusal = (200, 26108)
        self.expired = (401, 401)
        self.faults: dict[str, tuple[int, dict | str]] = {}  # path -> answer, to make it fail
        self.redirect: str | None = None  # a Location header on every answer
        self.server = Server(self.respond, tls=(key, cert))
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()

    @property
    def paths(self) -> list[str]:
        return [path for path, _, _ in self.server.requests]

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, time.time() - 1)

    # --- the protocol ---------------------------------------------------------------------

    def respond(self, path, headers, body):
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self.violations.append(f"{path}: the body is not a JSON object: {body[:80]!r}")
            return self._answer(400, {"code": 10000, "msg": "bad request"})
        for name, value in {**FIXED_HEADERS, "country": self.country}.items():
            if headers.get(name) != value:
                self.violations.append(f"{path}: header {name} is {headers.get(name)!r}")
        if not re.fullmatch(r"GMT[+-]\d\d:\d\d", headers.get("timezone") or ""):
            self.violations.append(f"{path}: header timezone is {headers.get('timezone')!r}")
        if path in self.faults:
            return self._answer(*self.faults[path])
        if path == "/passport/login":
            return self._login(request)
        token = headers.get("x-auth-token")
        if token not in self.tokens:
            self.violations.append(f"{path}: unknown token {token!r}")
            return self._answer(401, {"code": 401, "msg": "unauthorized"})
        if headers.get("gtoken") != hashlib.md5(self.user_id.encode()).hexdigest():
            self.violations.append(f"{path}: gtoken is not the MD5 of the user id")
        if self.tokens[token] < time.time():
            status, code = self.expired
            return self._answer(status, {"code": code, "msg": "token is invalid, log in again"})
        if path == "/power_service/v1/site/get_site_list":
            if request != {}:
                self.violations.append(f"{path}: body {request!r}")
            return self._answer(200, {"code": 0, "msg": "success!",
                                      "data": {"site_list": self.sites}})
        if path == "/power_service/v1/site/get_scen_info":
            scene = self.scenes.get(request.get("site_id"))
            if scene is None or set(request) != {"site_id"}:
                self.violations.append(f"{path}: body {request!r}")
                return self._answer(200, {"code": 10004, "msg": "site not found"})
            return self._answer(200, scene)
        self.violations.append(f"{path}: not a path of the protocol")
        return self._answer(404, {"code": 404, "msg": "not found"})

    def _login(self, request: dict):
        if set(request) != LOGIN_KEYS:
            self.violations.append(f"login: keys {sorted(request)}")
        if request.get("ab") != self.country or request.get("enc") != 0:
            self.violations.append(f"login: ab {request.get('ab')!r}, enc {request.get('enc')!r}")
        if not isinstance(request.get("time_zone"), int):
            self.violations.append(f"login: time_zone {request.get('time_zone')!r}")
        moment = str(request.get("transaction"))
        if not moment.isdigit() or abs(int(moment) / 1000 - time.time()) > 600:
            self.violations.append(f"login: transaction {moment!r} is not now in ms")
        try:
            password = self.decrypt(request["client_secret_info"]["public_key"],
                                    request["password"])
        except Exception as error:  # any malformed part is a violation, answered as a refusal
            self.violations.append(f"login: cannot decrypt the password ({error!r})")
            password = None
        self.passwords.append(password)
        if request.get("email") != self.email or password != self.password:
            status, code = self.refusal
            return self._answer(status, {"code": code, "msg": "Wrong account or password"})
        token = secrets.token_hex(16)
        expires = time.time() + self.token_seconds
        self.tokens[token] = expires
        return self._answer(200, {"code": 0, "msg": "success!", "data": {
            "user_id": self.user_id, "email": self.email, "nick_name": "owner",
            "auth_token": token, "token_expires_at": int(expires), "ab_code": self.country}})

    def decrypt(self, client_key_hex: str, sealed_b64: str) -> str:
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        client = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                              bytes.fromhex(client_key_hex))
        secret = self.key.exchange(ec.ECDH(), client)
        decryptor = Cipher(algorithms.AES(secret), modes.CBC(secret[:16])).decryptor()
        sealed = base64.b64decode(sealed_b64, validate=True)
        padded = decryptor.update(sealed) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode()

    def _answer(self, status: int, document: dict | str):
        headers = {"Location": self.redirect} if self.redirect else {}
        if isinstance(document, str):  # what a proxy in front of it might say
            return status, {**headers, "Content-Type": "text/html"}, document
        return status, {**headers, "Content-Type": "application/json"}, json.dumps(document)
