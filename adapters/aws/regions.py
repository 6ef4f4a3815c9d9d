"""Regions and partitions as botocore's own endpoint data knows them (no call to AWS)."""

from __future__ import annotations

import functools

import boto3

__all__ = ["known_region_codes", "partition_of"]


@functools.cache
def known_region_codes() -> frozenset[str]:
    """Every EC2 region code botocore knows, across partitions (aws, aws-cn, aws-us-gov, ...)."""
    session = boto3.session.Session()
    codes: set[str] = set()
    for partition in session.get_available_partitions():
        codes.update(session.get_available_regions("ec2", partition_name=partition, allow_non_regional=False))
    return frozenset(codes)


@functools.cache
def partition_of(region: str) -> str:
    return boto3.session.Session().get_partition_for_region(region)
