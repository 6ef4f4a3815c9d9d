"""The agent's own view of its vCenter: reachable or not, and its version, read with credentials entered on this
host. The portal shows what the agent reports; it never holds these credentials."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from adapters.outbound import OutboundPolicy
from adapters.vsphere import client as vsphere

LOOPBACK = ("127.0.0.1", "localhost", "::1")
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


@dataclass(frozen=True)
class Report:
    version: str
    reachable: bool
    category: str = ""  # why not, as the adapter names it (unreachable, refused, tls...): never raw socket text


def connection(settings: dict, trust: dict | None = None) -> vsphere.VCenterConnection:
    """The adapter's connection: the credentials entered on this host (`settings`), and where vCenter is and how
    to trust it as the portal's administrator set it (`trust`, from the heartbeat), else as entered here."""
    trust = trust or {}
    url = trust.get("url") or settings["url"]
    host = urllib.parse.urlsplit(url).hostname
    # The agent sits in the customer's own network: its vCenter and ESX hosts are usually on private addresses,
    # which the portal's outbound policy (made for tenant-supplied URLs reached from the platform) refuses. Link-local
    # (a cloud's metadata address), multicast and unspecified stay refused: a download address vCenter hands back
    # must not reach the agent host's own cloud credentials. Loopback and plain HTTP only for a vCenter on this host.
    loopback = host in LOOPBACK
    policy = OutboundPolicy(allow_http=loopback,
                            allowed_cidrs=PRIVATE_NETWORKS + (("127.0.0.0/8", "::1/128") if loopback else ()),
                            reached_by="the connector")
    return vsphere.VCenterConnection(
        url=url, username=settings["username"], password=settings["password"],
        thumbprint=trust.get("thumbprint") or settings.get("thumbprint", ""),
        verify_tls=trust.get("verify_tls", settings.get("verify_tls", True)), ca_pem=trust.get("ca_pem", ""),
        ignore_esx_certificate_errors=trust.get("ignore_esx_certificate_errors", False),
        dns_suffixes=tuple(trust.get("dns_suffixes", ())), outbound=policy, connect_timeout=10, read_timeout=30)


def probe(settings: dict, trust: dict | None = None) -> Report:
    try:
        with vsphere.session(connection(settings, trust)) as vc:
            return Report(vc.product(), True)
    except vsphere.VSphereError as exc:
        return Report("", False, exc.category)
