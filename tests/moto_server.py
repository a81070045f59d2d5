"""moto's EC2 as a server on loopback, for the real AWS CLI (awscli, pinned in
requirements-dev.txt) to run the exact commands the README and `make destroy` print."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


class MotoServer:
    def __init__(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def __enter__(self):
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *_):
        self.server.stop()

    def env(self, base: dict | None = None) -> dict:
        """The AWS CLI's environment: moto's endpoint (AWS_ENDPOINT_URL, botocore's global
        endpoint setting), throwaway keys, no profile, the venv's `aws` on PATH."""
        base = dict(os.environ if base is None else base)
        return {**base, "AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
                "PATH": f"{VENV_BIN}:{base.get('PATH', '/usr/bin:/bin')}"}

    def client(self, service: str, region: str):
        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")
