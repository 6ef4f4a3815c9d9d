"""Whose account is whose: the platform's own account, and the account an IAM role belongs to (so a tenant cannot
hand the portal a role in the platform's account)."""

from __future__ import annotations

from django.conf import settings

from adapters.aws import session

__all__ = ["account_of_role", "platform_account_id"]


def platform_account_id() -> str:
    """The AWS account the platform's own identity belongs to."""
    sts = session.platform_client("sts", settings.AWS_DEFAULT_REGION)
    with session.translated_errors():
        return sts.get_caller_identity()["Account"]


def account_of_role(role_arn: str) -> str:
    """The account id inside an IAM role ARN (arn:aws:iam::123456789012:role/name), or "" when it has none."""
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 5 and parts[2] == "iam" else ""
