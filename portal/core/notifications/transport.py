"""Posting one webhook body: to an address the outbound policy checked (resolved once, connected to that address:
no DNS rebinding), no redirects followed, bounded time and response size. Failures come back as a category."""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

from portal.integrations.outbound import OutboundPolicy, OutboundRefused, Target

_RESPONSE_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status: int | None = None
    error: str = ""  # a category: refused, unresolvable, unreachable, timeout, tls, http_<status>


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target

    def connect(self):
        self.sock = socket.create_connection((self._target.ip, self._target.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._target = target

    def connect(self):
        sock = socket.create_connection((self._target.ip, self._target.port), self.timeout)
        # TLS and its certificate check are for the URL's host name, whatever address it resolved to.
        self.sock = self._context.wrap_socket(sock, server_hostname=self._target.host)


def check(url: str, policy: OutboundPolicy) -> Target:
    """The checked target; OutboundRefused or socket.gaierror otherwise."""
    return policy.check_url(url)


def post(url: str, body: bytes, headers: dict[str, str], *, policy: OutboundPolicy, timeout: float) -> PostResult:
    try:
        target = check(url, policy)
    except OutboundRefused:
        return PostResult(False, error="refused")
    except (socket.gaierror, UnicodeError):
        return PostResult(False, error="unresolvable")
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout)
    parts = urllib.parse.urlsplit(url.strip())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        response.read(_RESPONSE_MAX_BYTES)
        status = response.status
    except TimeoutError:
        return PostResult(False, error="timeout")
    except ssl.SSLError:
        return PostResult(False, error="tls")
    except (OSError, http.client.HTTPException):
        return PostResult(False, error="unreachable")
    finally:
        connection.close()
    if 200 <= status < 300:
        return PostResult(True, status=status)
    return PostResult(False, status=status, error=f"http_{status}")
