"""The agent's own view of its vCenter: reachable or not, and its version, read with credentials entered on this
host. The portal shows what the agent reports; it never holds these credentials."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from adapters.outbound import OutboundPolicy
from adapters.vsphere import client as vsphere

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Report:
    version: str
    reachable: bool
    category: str = ""  # why not, as the adapter names it (unreachable, refused, tls...): never raw socket text


def connection(settings: dict) -> vsphere.VCenterConnection:
    host = urllib.parse.urlsplit(settings["url"]).hostname
    # The agent sits in the customer's own network: its vCenter is usually on a private address, which the portal's
    # outbound policy (made for tenant-supplied URLs reached from the platform) would refuse. Plain HTTP only to a
    # vCenter on this host itself.
    policy = OutboundPolicy(allow_http=host in LOOPBACK, allowed_cidrs=("0.0.0.0/0", "::/0"))
    return vsphere.VCenterConnection(url=settings["url"], username=settings["username"],
                                     password=settings["password"], thumbprint=settings.get("thumbprint", ""),
                                     verify_tls=settings.get("verify_tls", True), outbound=policy,
                                     connect_timeout=10, read_timeout=30)


def probe(settings: dict) -> Report:
    try:
        with vsphere.session(connection(settings)) as vc:
            return Report(vc.product(), True)
    except vsphere.VSphereError as exc:
        return Report("", False, exc.category)
