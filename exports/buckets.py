"""Export bucket names: `export-to-s3-<name>-<region>`, one per region a tenant uses, and what makes a name legal.

The name is checked against every region AWS knows, not only the tenant's current ones, so a region added later
never turns a saved name into an illegal bucket name."""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError

from adapters.aws.client import known_region_codes

BUCKET_PREFIX = "export-to-s3"
_BUCKET_CHARS = re.compile(r"^[a-z0-9-]+$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def export_bucket_name(name: str, region_code: str) -> str:
    return f"{BUCKET_PREFIX}-{name}-{region_code}"


def bucket_name_problem(bucket: str) -> str | None:
    """Why `bucket` is not a legal S3 bucket name, or None. Dots are refused too although S3 allows them: a dotted
    name breaks virtual-hosted TLS, and ours never needs one."""
    if not 3 <= len(bucket) <= 63:
        return f"{bucket!r} has {len(bucket)} characters; a bucket name has 3 to 63."
    if not _BUCKET_CHARS.match(bucket):
        return f"{bucket!r} may contain only lowercase letters, digits and hyphens."
    if bucket[0] == "-" or bucket[-1] == "-":
        return f"{bucket!r} must begin and end with a letter or a digit."
    if _is_ip_address(bucket):
        return f"{bucket!r} is formatted as an IP address."
    return None


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def validate_export_name(name: str, region_codes=None) -> None:
    """The name itself (lowercase letters, digits, inner hyphens) and the bucket name it makes in every region."""
    if not _NAME.match(name or ""):
        raise ValidationError({"name": ValidationError(
            "Use lowercase letters, digits and hyphens, beginning and ending with a letter or a digit.",
            code="invalid_export_name")})
    codes = set(known_region_codes()) | set(region_codes or ())
    problems = sorted({p for p in (bucket_name_problem(export_bucket_name(name, code)) for code in codes) if p})
    if problems:
        longest = max(codes, key=len)
        limit = 63 - len(export_bucket_name("", longest))
        raise ValidationError({"name": ValidationError(
            f"The name must make a legal bucket name in every region: {problems[0]} (at most {limit} characters "
            f"fit beside the longest region code, {longest}).", code="illegal_bucket_name")})
