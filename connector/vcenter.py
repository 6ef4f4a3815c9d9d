"""The agent's own view of its vCenter: reachable or not, and its version, read with credentials entered on this
host. The portal shows what the agent reports; it never holds these credentials."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from adapters.outbound import connector_policy
from adapters.vsphere import client as vsphere


@dataclass(frozen=True)
class Report:
    version: str
    reachable: bool
    category: str = ""  # why not, as the adapter names it (unreachable, refused, tls...): never raw socket text


# The portal's vCenter settings name another destination than the one the account was entered for here.
DESTINATION_CHANGED = "destination_changed"


def connection(settings: dict, trust: dict | None = None) -> vsphere.VCenterConnection:
    """The adapter's connection: the credentials entered on this host (`settings`, with the URL and TLS check they
    were entered for), and how to trust vCenter as the portal's administrator set it (`trust`, from the
    heartbeat: a CA, a thumbprint, the ESX switches). The portal cannot send the credentials elsewhere: a URL or a
    TLS check of its own that differs from the one entered here is refused until they are entered again here."""
    trust = trust or {}
    url = settings["url"]
    verify_tls = settings.get("verify_tls", True)
    if (trust.get("url") and _destination(trust["url"]) != _destination(url)) or \
            (verify_tls and trust.get("verify_tls") is False):
        raise vsphere.VSphereError(
            DESTINATION_CHANGED, "The vCenter URL or TLS check set in the portal is not the one this connector's "
            "vCenter account was entered for: enter it again on the connector (python -m connector vcenter).",
            DESTINATION_CHANGED)
    policy = connector_policy(url)
    return vsphere.VCenterConnection(
        url=url, username=settings["username"], password=settings["password"],
        thumbprint=trust.get("thumbprint") or settings.get("thumbprint", ""),
        verify_tls=verify_tls and trust.get("verify_tls") is not False, ca_pem=trust.get("ca_pem", ""),
        ignore_esx_certificate_errors=trust.get("ignore_esx_certificate_errors", False),
        dns_suffixes=tuple(trust.get("dns_suffixes", ())), outbound=policy, connect_timeout=10, read_timeout=30)


def _destination(url: str) -> tuple:
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return (url,)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").rstrip("."), port or {"https": 443, "http": 80}.get(scheme), \
        parts.path.rstrip("/") or "/sdk"


def probe(settings: dict, trust: dict | None = None) -> Report:
    try:
        with vsphere.session(connection(settings, trust)) as vc:
            return Report(vc.product(), True)
    except vsphere.VSphereError as exc:
        return Report("", False, exc.category)
