"""Which failures a job retries from its checkpoint and which end it, and how long it waits in between.

A transient failure (a broken NFC stream, S3 throttling or a 5xx, an expired vCenter session, a connection error)
says nothing about the job: the next attempt resumes where the checkpoint is (the parts already in S3, the AWS
task already started). A permanent one (a refused privilege, a VM that is gone, access denied, a validation error)
would fail again the same way, so it fails the job at once."""

from __future__ import annotations

import random
from dataclasses import dataclass

from adapters.aws.client import AwsError
from adapters.vsphere.client import AUTH, NOT_FOUND, UNREACHABLE, VSphereError

# AWS error codes that mean "not now" rather than "never". Throttling first, then server-side errors, then
# credentials that merely expired (an assumed role's session: the next attempt assumes the role again).
AWS_THROTTLING = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "RequestThrottled", "RequestThrottledException", "TooManyRequestsException", "EC2ThrottledException",
    "ProvisionedThroughputExceededException", "BandwidthLimitExceeded",
})
AWS_TRANSIENT = AWS_THROTTLING | frozenset({
    "InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable", "Unavailable",
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "ConnectionError",
    "InsufficientInstanceCapacity", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
    "IDPCommunicationError", "500", "502", "503", "504",
})

# vSphere: anything that could not reach vCenter or the ESX host, a session vCenter ended, and the export
# lease lapsing (the next attempt opens a new one) are transient; the rest of `not_found` (the VM is gone),
# `auth` (login refused, privilege denied), `tls` and `refused` are not.
VSPHERE_TRANSIENT_CODES = frozenset({"not_authenticated", "lease_gone", "lease_lost", "lease_timeout",
                                     "stream_broken", "unexpected_answer"})


@dataclass(frozen=True)
class Verdict:
    transient: bool
    what: str  # what went wrong, a sentence start for the status message ("S3 is throttling (SlowDown)")


def classify(exc: BaseException) -> Verdict | None:
    """The verdict on a peer's error, or None for anything that is not a peer's (a bug, a StepFailed)."""
    if isinstance(exc, AwsError):
        if exc.code in AWS_THROTTLING:
            service = "S3" if exc.code in ("SlowDown", "BandwidthLimitExceeded") else "AWS"
            return Verdict(True, f"{service} is throttling ({exc.code})")
        if exc.code in AWS_TRANSIENT:
            if exc.code == "ConnectionError":
                return Verdict(True, "AWS could not be reached")
            return Verdict(True, f"AWS answered {exc.code}")
        return Verdict(False, f"AWS refused ({exc.code})")
    if isinstance(exc, VSphereError):
        if exc.code == "stream_broken":
            return Verdict(True, "The disk stream from the ESX host broke")
        if exc.code == "not_authenticated":
            return Verdict(True, "vCenter ended the session")
        if exc.code in VSPHERE_TRANSIENT_CODES:
            return Verdict(True, f"The export lease was lost ({exc.code})" if exc.code.startswith("lease")
                           else "vCenter gave an unexpected answer")
        if exc.category == UNREACHABLE:
            return Verdict(True, "vCenter or the ESX host could not be reached")
        if exc.category in (AUTH, NOT_FOUND):
            return Verdict(False, exc.code)
        return Verdict(False, exc.code)
    return None


def backoff_seconds(kind, failed_attempts: int) -> float:
    """Exponential backoff with jitter between half and all of the step: spreads the retries of many jobs that
    failed together (one S3 throttling event) instead of sending them back at once."""
    step = min(kind.setting("RETRY_MAX_SECONDS"),
               kind.setting("RETRY_BASE_SECONDS") * 2 ** max(0, failed_attempts - 1))
    return step * random.uniform(0.5, 1.0)


def transient(exc: BaseException) -> bool:
    verdict = classify(exc)
    return verdict is not None and verdict.transient
