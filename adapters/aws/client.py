"""The AWS adapter's one public face: `from adapters.aws import client as aws`, then `aws.run_instance(...)`.

The package is the only code that imports boto3/botocore. It takes credentials as a plain dataclass, reads
endpoints from settings (so the sandbox moto server and real AWS swap by configuration), returns plain dataclasses
and holds no ORM code; every failure is an `AwsError`, which callers translate. The work is done by one module per
service, and this module re-exports their public names:

- `session`: credentials, sessions and clients (assumed roles, retries and timeouts), `AwsError`, `translated_errors`
- `regions` and `identity`: the regions and partitions botocore knows; the platform's account, a role's account
- `network`: a VPC's subnets, security groups and key pairs
- `s3`: the staging bucket, the multipart upload of a disk, the objects left in a tenant's buckets
- `iam`: the vmimport service role
- `imports`: ImportImage
- `instances`: RunInstances and the instance's life after
- `images`: AMIs (backups) and their snapshots
- `exports`: VM Export's bucket and CreateInstanceExportTask
- `sweep`: the tagged instances, images and snapshots the orphan sweep lists, and CreateTags
- `shapes` (nothing public): the tag lists, filters and timestamps the others read and write

Replacing one of these names here (a test's monkeypatch, a fault-injection wrapper) replaces it in the module that
defines it too, and the modules call each other's functions as attributes of their module (`session.client(...)`),
never through a name imported on their own: a replacement reaches every call site, the adapter's own included, as
when the adapter was one module.
"""

from __future__ import annotations

import sys
import types

from adapters.aws.exports import *
from adapters.aws.iam import *
from adapters.aws.identity import *
from adapters.aws.images import *
from adapters.aws.imports import *
from adapters.aws.instances import *
from adapters.aws.network import *
from adapters.aws.regions import *
from adapters.aws.s3 import *
from adapters.aws.session import *
from adapters.aws.sweep import *

_PARTS = [sys.modules[f"{__package__}.{name}"] for name in (
    "session", "regions", "identity", "network", "s3", "iam", "imports", "instances", "images", "exports", "sweep")]

# Each re-exported name and the module that defines it.
_HOMES = {name: part for part in _PARTS for name in part.__all__}

__all__ = list(_HOMES)


class _Facade(types.ModuleType):
    """This module's type: setting a re-exported name sets it in its home module as well (see the docstring)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _HOMES:
            setattr(_HOMES[name], name, value)
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in _HOMES and name in vars(_HOMES[name]):
            delattr(_HOMES[name], name)
        super().__delattr__(name)


sys.modules[__name__].__class__ = _Facade
