"""The agent's only way out: HTTPS requests to the portal's API, each signed with the agent's key. Errors leave as
`PortalError` with a category (unreachable, refused, rejected, server), never as raw socket text."""

from __future__ import annotations

import json
import ssl
import urllib.error
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

    def post(self, path: str, payload: dict, *, signed: bool = True, timeout: float = TIMEOUT_SECONDS) -> dict:
        """POST `payload` as JSON to /api/v1/<path>; the answer's JSON ({} for 204)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        full_path = urllib.parse.urlsplit(self.url).path + "/api/v1/" + path.lstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": f"vm-migration-connector/{__version__}"}
        if signed:
            if self.key is None or not self.agent_id:
                raise PortalError("config", "The agent is not registered.")
            headers.update(protocol.sign_request(self.key, agent_id=self.agent_id, method="POST", path=full_path,
                                                 body=body))
        origin = urllib.parse.urlunsplit(urllib.parse.urlsplit(self.url)[:2] + ("", "", ""))
        request = urllib.request.Request(origin + full_path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail, code = _detail(exc)
            raise PortalError(_category(exc.code), detail, exc.code, code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            category = "tls" if isinstance(reason, ssl.SSLError) else "unreachable"
            raise PortalError(category, f"The portal at {origin} could not be reached ({category}).") from None
        return json.loads(raw) if raw else {}


def _category(status: int) -> str:
    if status in (401, 403):
        return "refused"
    if status == 429:
        return "throttled"
    return "rejected" if status < 500 else "server"


def _detail(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """The portal's message and first error code (its error body: {"errors": [{"code", "detail", "attr"}]})."""
    try:
        errors = json.loads(exc.read()).get("errors") or []
        message = "; ".join(str(e.get("detail")) for e in errors) or f"HTTP {exc.code}"
        return message, str(errors[0].get("code", "")) if errors else ""
    except (ValueError, AttributeError):
        return f"HTTP {exc.code}", ""
