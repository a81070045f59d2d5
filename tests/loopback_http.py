"""A loopback HTTP(S) server whose answers a test sets, for the stand-ins of the services our
programs call (FritzBox, echo services, the Lambda endpoint, Grafana's API). It records what it
was asked."""

from __future__ import annotations

import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Server:
    """`respond(path, headers, body) -> (status, headers, text)` answers every GET and POST.
    With `tls=(key_pem, cert_pem)` it speaks HTTPS, and its URL names `localhost` (the name
    such a certificate is issued for)."""

    def __init__(self, respond, tls: tuple[bytes, bytes] | None = None):
        self.respond, self.requests = respond, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                server.requests.append((self.path, dict(self.headers), body))
                status, headers, text = server.respond(self.path, self.headers, body)
                data = text.encode()
                self.send_response(status)
                for key, value in {"Content-Length": str(len(data)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.httpd.server_address[1]
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with tempfile.TemporaryDirectory() as keys:
                key, cert = Path(keys) / "server.key", Path(keys) / "server.crt"
                key.write_bytes(tls[0])
                cert.write_bytes(tls[1])
                context.load_cert_chain(cert, key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.url = f"https://localhost:{port}"
        else:
            self.url = f"http://127.0.0.1:{port}"
        # shutdown() waits for serve_forever's next poll, 0.5 s by default (socketserver.py):
        # with three servers per Pi agent test that was most of each test's time.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
