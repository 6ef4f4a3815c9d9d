"""AWS sandbox: moto server (EC2, S3, IAM, STS) + a VM Import/Export extension, a sandbox clock and fault switches.

Importing this package is cheap (moto is imported only when a server is started); the public names are
loaded lazily::

    from sandbox.aws import start_aws, connect
    with start_aws(speed=0) as aws:
        ec2 = aws.client("ec2")
        ...
        aws.advance(120)

See ``sandbox/aws/README.md`` for the full contract.
"""

from __future__ import annotations

from typing import Any

__all__ = ["start_aws", "connect", "AWSSandbox", "RemoteAWSSandbox", "install"]


def __getattr__(name: str) -> Any:
    if name in ("start_aws", "connect", "AWSSandbox", "RemoteAWSSandbox"):
        from . import server

        return getattr(server, name)
    if name == "install":
        from .vmie import install

        return install
    raise AttributeError(name)
