"""Where the adapters report a failed peer call, for whoever counts them (the core's metrics register at startup).

Adapters are leaves and may not import the core, so the core hands them a listener instead: `listeners` holds
callables (peer, category) -> None that `report` calls. A listener that fails is ignored: counting must never
turn a peer's failure into a different one.

A leaf: the standard library only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger("adapters")

AWS = "aws"
VSPHERE = "vsphere"

listeners: list[Callable[[str, str], None]] = []

# AWS error codes by the category an operator acts on; anything unlisted is "other".
_AWS_CATEGORIES = {
    "throttling": ("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                   "SlowDown", "RequestThrottled"),
    "auth": ("AuthFailure", "UnauthorizedOperation", "AccessDenied", "AccessDeniedException",
             "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "NoCredentials",
             "InvalidAccessKeyId"),
    "unreachable": ("ConnectionError", "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"),
    "quota": ("ResourceLimitExceeded", "InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded"),
    "not_found": ("NoSuchBucket", "NoSuchKey", "NoSuchUpload", "NoSuchEntity"),
}
_AWS_CATEGORY_OF = {code: category for category, codes in _AWS_CATEGORIES.items() for code in codes}


def aws_category(code: str) -> str:
    """The category of an AWS error code (`AwsError.code`)."""
    if code in _AWS_CATEGORY_OF:
        return _AWS_CATEGORY_OF[code]
    if code.endswith("NotFound"):
        return "not_found"
    return "other"


def report(peer: str, category: str) -> None:
    """One failed call to `peer` (AWS, VSPHERE), of `category` (the adapter's own error category)."""
    for listener in tuple(listeners):
        try:
            listener(peer, category)
        except Exception:  # noqa: BLE001 -- a counter must not break the caller's error path
            logger.exception("peer error listener %r failed", listener)
