"""The agent's only way out: HTTPS requests to the portal's API, each signed with the agent's key. Errors leave as
`PortalError` with a category (unreachable, refused, rejected, server), never as raw socket text.

Each of the agent's threads keeps its connection to the portal open between requests (HTTP/1.1 keep-alive): a
migration asks for a presigned URL per part and reports every second, and a new connection each time cost a TCP
and TLS handshake (and building a urllib opener) per call, on the agent and on the portal. A connection the portal
closed while idle is noticed on its next use, and that request is sent again once, signed anew, on a new one.
An `https_proxy` in the environment (urllib's rules, `no_proxy` included) is tunnelled through with CONNECT."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connector import __version__, protocol

TIMEOUT_SECONDS = 30


class PortalError(Exception):
    def __init__(self, category: str, message: str, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.category = category
        self.message = message
        self.status = status
        self.code = code  # the portal's error code (lease_lost, not_found, ...), when it gave one


@dataclass
class Portal:
    url: str
    ca_bundle: str = ""
    agent_id: str = ""
    key: Ed25519PrivateKey | None = None

    def __post_init__(self):
        parts = urllib.parse.urlsplit(self.url)
        if not parts.netloc or parts.scheme not in ("https", "http"):
            raise PortalError("config", f"Not a portal URL: {self.url!r}")
        # Plain HTTP only to this host itself (a development portal): anywhere else the key's signatures and the
        # import tokens would cross a network in clear.
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise PortalError("config", "The portal's URL must be https:// (http:// only for localhost).")
        self.url = self.url.rstrip("/")
        self._context = ssl.create_default_context(cafile=self.ca_bundle or None)
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._base_path = parts.path.rstrip("/")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        proxy = urllib.request.getproxies().get(parts.scheme)
        self._proxy = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}") \
            if proxy and not urllib.request.proxy_bypass(parts.hostname) else None
        self._local = threading.local()  # each thread's open connection

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to the portal, and whether it served a request before."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, connection.sock is not None
        host, port = (self._proxy.hostname, self._proxy.port or 3128) if self._proxy else (self._host, self._port)
        if self._scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT_SECONDS, context=self._context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
        if self._proxy:
            connection.set_tunnel(self._host, self._port)
        self._local.connection = connection
        return connection, False

    def close(self) -> None:
        """Close this thread's connection (the others close with their threads)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def post(self, path: str, payload: dict, *, signed: bool = True, timeout: float = TIMEOUT_SECONDS) -> dict:
        """POST `payload` as JSON to /api/v1/<path>; the answer's JSON ({} for 204)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        full_path = self._base_path + "/api/v1/" + path.lstrip("/")
        if signed and (self.key is None or not self.agent_id):
            raise PortalError("config", "The agent is not registered.")
        for attempt in (1, 2):
            headers = {"Content-Type": "application/json", "Accept": "application/json",
                       "User-Agent": f"vm-migration-connector/{__version__}"}
            if signed:  # signed for each attempt: a fresh nonce, so a resent request is never taken for a replay
                headers.update(protocol.sign_request(self.key, agent_id=self.agent_id, method="POST",
                                                     path=full_path, body=body))
            connection, reused = self._connection()
            try:
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                connection.request("POST", full_path, body=body, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if reused and attempt == 1:
                    continue  # the portal closed the idle connection: once more, on a new one
                raise PortalError("unreachable", f"The portal at {self._origin} could not be reached "
                                                 f"(unreachable).") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                category = "tls" if isinstance(exc, ssl.SSLError) else "unreachable"
                raise PortalError(category, f"The portal at {self._origin} could not be reached ({category}).") \
                    from None
            if response.will_close:
                self.close()
            if response.status >= 400:
                detail, code = _detail(response.status, raw)
                raise PortalError(_category(response.status), detail, response.status, code)
            return json.loads(raw) if raw else {}
        raise AssertionError("unreachable")  # the loop returns or raises


def _category(status: int) -> str:
    if status in (401, 403):
        return "refused"
    if status == 429:
        return "throttled"
    return "rejected" if status < 500 else "server"


def _detail(status: int, raw: bytes) -> tuple[str, str]:
    """The portal's message and first error code (its error body: {"errors": [{"code", "detail", "attr"}]})."""
    try:
        errors = json.loads(raw).get("errors") or []
        message = "; ".join(str(e.get("detail")) for e in errors) or f"HTTP {status}"
        return message, str(errors[0].get("code", "")) if errors else ""
    except (ValueError, AttributeError):
        return f"HTTP {status}", ""
