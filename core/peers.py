"""Builds the adapters' connection settings from a tenant's stored settings (the one place that reads them)."""

import functools
import threading
import time

from django.conf import settings

from adapters.aws import client as aws
from adapters.aws.client import AwsCredentials
from adapters.outbound import OutboundPolicy
from core.errors import Conflict, Invalid, UpstreamError
from core.models import AwsAuthMode, Tenant, TenantAwsAccount

AWS_NOT_CONFIGURED = ("Configure AWS access for this organisation first: an administrator gives its access keys or "
                      "a role to assume under settings.")


def aws_credentials(tenant: Tenant) -> AwsCredentials:
    """The tenant's own way into AWS. Without one there is no AWS call at all (never the platform's identity)."""
    account = TenantAwsAccount.objects.filter(tenant=tenant).first()
    if account is None or not account.is_configured:
        raise Conflict(AWS_NOT_CONFIGURED, code="aws_not_configured")
    if account.auth_mode == AwsAuthMode.ASSUME_ROLE:
        refuse_platform_account(account.role_arn)
        return AwsCredentials(role_arn=account.role_arn, external_id=account.external_id)
    return AwsCredentials(access_key_id=account.access_key_id, secret_access_key=account.secret_access_key)


# An agent asks for presigned part URLs many times a minute per upload, and each needs the tenant's credentials:
# reading and decrypting the account row every time was most of that call's cost. They are kept in this process
# for a short time, per tenant and per version of the account row (its `updated_at`, which every save of it moves),
# so a changed account is read again at its next use; never longer than KEPT_CREDENTIALS_SECONDS.
KEPT_CREDENTIALS_SECONDS = 60.0
_KEPT_CREDENTIALS: dict[int, tuple[object, float, AwsCredentials]] = {}
_KEPT_LOCK = threading.Lock()


def aws_credentials_kept(tenant: Tenant, *, version) -> AwsCredentials:
    """`aws_credentials(tenant)`, kept in process while the tenant's account row is at `version` (its `updated_at`,
    read by the caller's own query: None when the tenant has no account row, which is never kept), for at most
    KEPT_CREDENTIALS_SECONDS. Keyed by the tenant: one tenant's credentials are never another's."""
    now = time.monotonic()
    with _KEPT_LOCK:
        kept = _KEPT_CREDENTIALS.get(tenant.pk)
    if version is None or kept is None or kept[0] != version or now - kept[1] >= KEPT_CREDENTIALS_SECONDS:
        credentials = aws_credentials(tenant)  # refuses a missing account and a role in the platform's account
        with _KEPT_LOCK:
            if len(_KEPT_CREDENTIALS) >= 4096:
                _KEPT_CREDENTIALS.clear()
            _KEPT_CREDENTIALS[tenant.pk] = (version, now, credentials)
        return credentials
    if kept[2].role_arn:
        refuse_platform_account(kept[2].role_arn)  # checked at every use, as aws_credentials does
    return kept[2]


def refuse_platform_account(role_arn: str, *, when_unknown_refuse: bool = True) -> None:
    """A tenant's role must not live in the platform's own account: assuming it would hand the tenant the
    platform's resources. The platform's account comes from settings, else from STS (remembered per process).

    Saving a role may go ahead while the platform's identity cannot be asked (`when_unknown_refuse=False`):
    every use checks again, and a use is refused then."""
    try:
        platform_account = settings.PLATFORM_AWS_ACCOUNT_ID or _platform_account_from_sts()
    except UpstreamError:
        if when_unknown_refuse:
            raise
        return
    if aws.account_of_role(role_arn) == platform_account:
        raise Invalid("The role belongs to the portal's own AWS account; give a role in your organisation's account.",
                      code="platform_account_role", field="role_arn")


@functools.cache
def _platform_account_from_sts() -> str:
    try:
        return aws.platform_account_id()
    except aws.AwsError as exc:
        raise UpstreamError("The portal cannot verify the role's account right now; try again later.",
                            code="platform_identity_unavailable") from exc


def outbound_policy() -> OutboundPolicy:
    """Where the platform may connect on a tenant's behalf (its webhooks): public HTTPS addresses unless the
    operator allows plain HTTP or allow-lists CIDRs (OUTBOUND_ALLOW_HTTP, OUTBOUND_ALLOWED_CIDRS)."""
    return OutboundPolicy(allow_http=settings.OUTBOUND_ALLOW_HTTP,
                          allowed_cidrs=tuple(settings.OUTBOUND_ALLOWED_CIDRS))
