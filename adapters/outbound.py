"""The outbound address policy: which addresses the platform's workers may connect to on a tenant's behalf.

A tenant administrator controls their vCenter URL and, through their vCenter, the ESX URLs its export leases hand
back. Both are checked here before any connection: HTTPS only (plain HTTP only when the operator allows it), the
name resolved once and every address it resolves to checked, and the connection then made to that checked address
(never to the name again: a second lookup could answer differently, DNS rebinding). Loopback, link-local (cloud
metadata), unspecified, multicast, reserved and private ranges are refused unless an operator allow-listed CIDR
holds the address.

A leaf: the standard library only, so both adapters and the core use the same rules.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the host name resolves to, as text.
Resolver = Callable[[str, int], Iterable[str]]

INVALID_URL = "invalid_url"
SCHEME = "scheme"
ADDRESS_SPELLING = "address_spelling"
LOOPBACK = "loopback"
LINK_LOCAL = "link_local"
UNSPECIFIED = "unspecified"
MULTICAST = "multicast"
RESERVED = "reserved"
PRIVATE = "private"

# Checked in this order, so an address in two ranges is named by the more specific reason.
_REFUSED: tuple[tuple[str, tuple[str, ...]], ...] = (
    (UNSPECIFIED, ("0.0.0.0/8", "::/128")),
    (LOOPBACK, ("127.0.0.0/8", "::1/128")),
    (LINK_LOCAL, ("169.254.0.0/16", "fe80::/10")),
    (MULTICAST, ("224.0.0.0/4", "ff00::/8")),
    (PRIVATE, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10",
               "64:ff9b:1::/48")),
    (RESERVED, ("192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
                "240.0.0.0/4", "::/96", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16")),
)
_REFUSED_NETWORKS: tuple[tuple[str, Network], ...] = tuple(
    (category, ipaddress.ip_network(cidr)) for category, cidrs in _REFUSED for cidr in cidrs)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"https": 443, "http": 80}
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


class Target(NamedTuple):
    """A checked destination: connect to `ip`; use `host` for everything above TCP (Host header, SNI and the
    certificate's name check)."""

    host: str
    port: int
    scheme: str
    ip: str


class OutboundRefused(Exception):
    """The policy refuses a URL. `category` names why (INVALID_URL, SCHEME, ADDRESS_SPELLING or an address
    range such as LOOPBACK); `reason` completes a sentence about the URL ("points at an address the portal may
    not reach (loopback)"). Neither ever carries resolver or socket text.

    A host name that does not resolve is not refused: the resolver's socket.gaierror passes through, for the
    caller to treat as unreachable."""

    def __init__(self, category: str, reason: str):
        self.category = category
        self.reason = reason
        super().__init__(self.message_for("The URL"))

    @property
    def message(self) -> str:
        return self.message_for("The URL")

    def message_for(self, subject: str) -> str:
        return f"{subject} {self.reason}."


def _address_refused(category: str, reached_by: str) -> OutboundRefused:
    return OutboundRefused(category, f"points at an address {reached_by} may not reach "
                                     f"({category.replace('_', '-')})")


@functools.lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


@dataclass(frozen=True)
class OutboundPolicy:
    """The default is the strict policy: public addresses over HTTPS only."""

    allow_http: bool = False
    allowed_cidrs: tuple[str, ...] = ()
    # Who is refused, in the messages: the connector agent applies a policy of its own beside its vCenter.
    reached_by: str = "the portal"

    def __post_init__(self):
        # A misspelt allow-list entry fails where the policy is built, not at the first connection.
        try:
            _networks(tuple(self.allowed_cidrs))
        except ValueError as exc:
            raise ValueError(f"OutboundPolicy.allowed_cidrs holds an entry that is not a CIDR: {exc}") from None

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("https", "http") if self.allow_http else ("https",)

    def check_url(self, url: str, *, resolver: Resolver | None = None) -> Target:
        """The checked target of `url`, or OutboundRefused; socket.gaierror when its host name does not resolve."""
        try:
            parsed = urllib.parse.urlsplit(url.strip())
            host, port = parsed.hostname or "", parsed.port
        except (ValueError, AttributeError):
            raise OutboundRefused(INVALID_URL, "is not a valid URL") from None
        scheme = (parsed.scheme or "").lower()
        self.check_scheme(scheme)
        if not host or port == 0:
            raise OutboundRefused(INVALID_URL, "names no host" if not host else "names port 0")
        return self.check_host(host, port or _DEFAULT_PORTS[scheme], scheme, resolver=resolver)

    def check_scheme(self, scheme: str) -> None:
        if scheme.lower() not in self.schemes:
            raise OutboundRefused(SCHEME, "must use https" if not self.allow_http else "must use https or http")

    def check_host(self, host: str, port: int, scheme: str, *, resolver: Resolver | None = None) -> Target:
        """Resolves `host` once (unless it is an address), checks every address and returns the first."""
        self.check_scheme(scheme)
        host = host.strip().lower().rstrip(".")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            raise OutboundRefused(INVALID_URL, "names no host")
        literal = _literal_address(host, self.reached_by)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                host.encode("idna")
            except UnicodeError:
                raise OutboundRefused(INVALID_URL, "names a host that is not a valid host name") from None
            addresses = [_parse_resolved(text) for text in (resolver or _system_resolver)(host, port)]
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, "no address")
        for address in addresses:
            self.check_address(address)
        return Target(host=host, port=port, scheme=scheme.lower(), ip=str(addresses[0]))

    def check_address(self, address: Address | str) -> None:
        if isinstance(address, str):
            address = _parse_resolved(address)
        allowed = _networks(tuple(self.allowed_cidrs))
        candidates = [address, *_embedded_ipv4(address)]
        if any(a in net for a in candidates for net in allowed if a.version == net.version):
            return
        category = _refused_category(address)
        if category is not None:
            raise _address_refused(category, self.reached_by)


def _refused_category(address: Address) -> str | None:
    for candidate in (address, *_embedded_ipv4(address)):
        for category, network in _REFUSED_NETWORKS:
            if candidate.version == network.version and candidate in network:
                return category
    return None


def _system_resolver(host: str, port: int) -> list[str]:
    # socket.getaddrinfo is looked up at call time, so a test that fakes it fakes the policy's lookups too.
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _parse_resolved(text: str) -> Address:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        # A resolver answered something that is not an address; nothing to connect to.
        raise OutboundRefused(INVALID_URL, "names a host that resolves to no usable address") from None


def _literal_address(host: str, reached_by: str = "the portal") -> Address | None:
    """The address a host spelled as an address denotes; None for a host name.

    Only the canonical spellings are accepted: the other forms inet_aton takes (2130706433, 0177.0.0.1, 127.1,
    0x7f.1) are read differently by different libraries, so one is refused, naming the range it would reach
    when that range is refused anyway."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    labels = host.split(".")
    if not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return None
    decoded = _inet_aton(labels)
    category = _refused_category(decoded) if decoded is not None else None
    if category is not None:
        raise OutboundRefused(category, f"points at an address {reached_by} may not reach "
                                        f"({category.replace('_', '-')}, spelt in a non-standard form)")
    raise OutboundRefused(ADDRESS_SPELLING, "spells its address in a form the portal does not accept (write it "
                                            "as four decimal numbers, such as 192.0.2.10)")


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    """What the C library's inet_aton makes of numeric labels (hex 0x.., octal 0.., a last label filling the
    remaining bytes), or None when it rejects them."""
    if not 1 <= len(labels) <= 4:
        return None
    values = []
    for label in labels:
        try:
            if label[:2].lower() == "0x":
                values.append(int(label[2:] or "0", 16))
            elif len(label) > 1 and label.startswith("0"):
                values.append(int(label, 8))
            else:
                values.append(int(label))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    return ipaddress.IPv4Address(number * 256 ** (4 - len(head)) + last)


def _embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries and reaches: mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d)
    and 6to4 (2002:AABB:CCDD::)."""
    if address.version != 6:
        return []
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


# A connector agent sits in the customer's own network: its vCenter and ESX hosts are usually on private addresses.
CUSTOMER_PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def connector_policy(vcenter_url: str) -> OutboundPolicy:
    """Where a connector agent may connect for its vCenter at `vcenter_url`: private addresses, which the portal's
    own policy refuses, and public ones. Link-local (a cloud's metadata address, where the agent host's credentials
    are), multicast and unspecified stay refused: a download address vCenter hands back must not reach them.
    Loopback, and plain HTTP, only for a vCenter on the agent's own host."""
    try:
        host = urllib.parse.urlsplit(vcenter_url.strip()).hostname or ""
    except ValueError:
        host = ""
    loopback = host in _LOOPBACK_NAMES
    return OutboundPolicy(allow_http=loopback,
                          allowed_cidrs=CUSTOMER_PRIVATE_NETWORKS + (("127.0.0.0/8", "::1/128") if loopback else ()),
                          reached_by="the connector")
