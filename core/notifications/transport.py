"""Posting one webhook body: to an address the outbound policy checked (resolved once, connected to that address:
no DNS rebinding), no redirects followed, bounded time and response size. Failures come back as a category.

The time bound is for the whole attempt, not for each socket read: a receiver that trickles a byte at a time
never lets a read time out, and would otherwise hold a shared worker for hours. A timer shuts the socket down at
the deadline, which ends whatever read or write is blocked on it."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass

from adapters.outbound import OutboundPolicy, OutboundRefused, Target

_RESPONSE_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status: int | None = None
    error: str = ""  # a category: refused, unresolvable, unreachable, timeout, tls, http_<status>


class _Deadline:
    """Shuts a connection's socket down once `seconds` have passed since start()."""

    def __init__(self, seconds: float):
        self._seconds = seconds
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        """The socket to cut; cut at once when the deadline passed while it was being connected."""
        with self._lock:
            self._socket = sock
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                _shut(self._socket)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing is blocked on it


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float, deadline: _Deadline):
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target
        self._deadline = deadline

    def connect(self):
        self.sock = socket.create_connection((self._target.ip, self._target.port), self.timeout)
        self._deadline.watch(self.sock)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, deadline: _Deadline):
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._target = target
        self._deadline = deadline

    def connect(self):
        sock = socket.create_connection((self._target.ip, self._target.port), self.timeout)
        # Watched before the handshake: a receiver that stalls the TLS handshake is cut at the deadline too.
        self._deadline.watch(sock)
        # TLS and its certificate check are for the URL's host name, whatever address it resolved to.
        self.sock = self._context.wrap_socket(sock, server_hostname=self._target.host)


def check(url: str, policy: OutboundPolicy) -> Target:
    """The checked target; OutboundRefused or socket.gaierror otherwise."""
    return policy.check_url(url)


def post(url: str, body: bytes, headers: dict[str, str], *, policy: OutboundPolicy, timeout: float) -> PostResult:
    """POST `body`; `timeout` bounds the whole attempt from connecting to the end of the answer."""
    try:
        target = check(url, policy)
    except OutboundRefused:
        return PostResult(False, error="refused")
    except (socket.gaierror, UnicodeError):
        return PostResult(False, error="unresolvable")
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    deadline = _Deadline(timeout)
    connection = connection_class(target, timeout, deadline)
    parts = urllib.parse.urlsplit(url.strip())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline.start()
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        response.read(_RESPONSE_MAX_BYTES)
        status = response.status
    except TimeoutError:
        return PostResult(False, error="timeout")
    except ssl.SSLError:
        return PostResult(False, error="timeout" if deadline.expired else "tls")
    except (OSError, http.client.HTTPException):
        return PostResult(False, error="timeout" if deadline.expired else "unreachable")
    finally:
        deadline.cancel()
        connection.close()
    if deadline.expired:
        # A shut socket can also read as a short, complete answer: past the deadline it does not count.
        return PostResult(False, error="timeout")
    if 200 <= status < 300:
        return PostResult(True, status=status)
    return PostResult(False, status=status, error=f"http_{status}")
