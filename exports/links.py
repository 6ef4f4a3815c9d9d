"""How long an export's download link lives. A presigned URL is a bearer credential for the whole OVA: whoever holds
it downloads the VM's disk, and it cannot be revoked before it expires. AWS signs links for up to seven days;
the portal hands out an hour by default (EXPORT_DOWNLOAD_URL_SECONDS) and never more than twelve hours."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

MAX_SECONDS = 12 * 3600


def link_seconds() -> int:
    """The configured lifetime, capped: a setting above the cap (which the deploy check reports) still gets the cap."""
    return max(1, min(int(settings.EXPORT_DOWNLOAD_URL_SECONDS), MAX_SECONDS))


@checks.register(checks.Tags.security, deploy=False)
def check_link_lifetime(app_configs=None, **kwargs):
    if int(settings.EXPORT_DOWNLOAD_URL_SECONDS) <= MAX_SECONDS:
        return []
    return [checks.Error(
        f"EXPORT_DOWNLOAD_URL_SECONDS is {settings.EXPORT_DOWNLOAD_URL_SECONDS}: download links live at most 12 hours "
        f"({MAX_SECONDS} s); links are capped there.", id="exports.E001")]
