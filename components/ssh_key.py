"""SshKey: the key pair the stack provisions its nodes with, and the owner reaches them with
(`make ssh`, from the secret `sshPrivateKey` output; the nodes accept SSH from home only)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls


class SshKey(pulumi.ComponentResource):
    key_name: pulumi.Output[str]
    """EC2 key pair name, for the instances."""
    private_key_openssh: pulumi.Output[str]
    """The private key (a Pulumi secret); pulumi-command connects with it, and `make ssh` with
    the secret `sshPrivateKey` output."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:SshKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(f"{name}-private", algorithm="ED25519", opts=child)
        pair = aws.ec2.KeyPair(f"{name}-pair", public_key=key.public_key_openssh, opts=child)
        self.key_name = pair.key_name
        self.private_key_openssh = pulumi.Output.secret(key.private_key_openssh)
        self.register_outputs({"keyName": self.key_name})
