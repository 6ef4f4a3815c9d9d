"""What the portal and the agent sign, defined once for both sides (the portal imports this module; this module
imports nothing of the portal's).

- **Requests.** The agent signs every request to the portal with its own Ed25519 key over a canonical string:
  method, path with query, time, a fresh nonce and the body's SHA-256. The portal refuses a request whose time is
  off by more than `MAX_SKEW_SECONDS` or whose nonce it has seen, so a captured request cannot be replayed.
- **Import tokens.** The portal signs a migration's token with its own Ed25519 key; the agent verifies it with the
  public keys it pinned at registration and refuses the job whatever the portal's database says, so write access
  to that database alone cannot make an agent export a VM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SCHEME = "vmp-agent-v1"
MAX_SKEW_SECONDS = 300
HEADER_AGENT = "X-Agent-Id"
HEADER_TIME = "X-Agent-Time"
HEADER_NONCE = "X-Agent-Nonce"
HEADER_SIGNATURE = "X-Agent-Signature"

TOKEN_AUDIENCE = "connector"
TOKEN_TYPE = "vm-import"


class ProtocolError(Exception):
    """A signature, key or token that does not verify; `reason` is a short code, the message is safe to show."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("malformed", "Not valid base64url.") from exc


# -- keys ----------------------------------------------------------------------------------------------------------

def keys_digest(public_key_texts: list[str]) -> str:
    """A short name for a set of pinned portal keys, in order: the agent sends it with its request for work, and the
    portal rings it when its own keys differ (a rotated portal key is pinned before any token it signed arrives)."""
    return hashlib.sha256("\n".join(public_key_texts).encode()).hexdigest()[:32]


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    raw = b64decode(text)
    if len(raw) != 32:
        raise ProtocolError("malformed", "An Ed25519 private key is 32 bytes.")
    return Ed25519PrivateKey.from_private_bytes(raw)


def private_key_text(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return b64encode(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption()))


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def public_key_from_text(text: str) -> Ed25519PublicKey:
    raw = b64decode(text)
    if len(raw) != 32:
        raise ProtocolError("malformed", "An Ed25519 public key is 32 bytes.")
    return Ed25519PublicKey.from_public_bytes(raw)


# -- signed requests -----------------------------------------------------------------------------------------------

def request_string(*, method: str, path: str, at: str, nonce: str, body: bytes) -> bytes:
    """The bytes an agent signs for one request. `path` includes the query string exactly as sent."""
    return "\n".join([SCHEME, method.upper(), path, at, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign_request(key: Ed25519PrivateKey, *, agent_id: str, method: str, path: str, body: bytes,
                 now: float | None = None) -> dict[str, str]:
    """The headers that authenticate one request as the agent `agent_id`."""
    at = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    signature = key.sign(request_string(method=method, path=path, at=at, nonce=nonce, body=body))
    return {HEADER_AGENT: agent_id, HEADER_TIME: at, HEADER_NONCE: nonce, HEADER_SIGNATURE: b64encode(signature)}


@dataclass(frozen=True)
class SignedRequest:
    agent_id: str
    at: int
    nonce: str
    signature: bytes


def read_request_headers(headers) -> SignedRequest:
    """The signature headers of a request (any mapping with .get), checked for shape and time, not yet for the
    signature (that needs the agent's key)."""
    agent_id, at, nonce, signature = (headers.get(h, "") for h in (HEADER_AGENT, HEADER_TIME, HEADER_NONCE,
                                                                   HEADER_SIGNATURE))
    if not (agent_id and at and nonce and signature):
        raise ProtocolError("unsigned", "The request is not signed.")
    if not at.isdigit() or not (16 <= len(nonce) <= 64) or not nonce.isalnum():
        raise ProtocolError("malformed", "The request's signature headers are malformed.")
    if abs(time.time() - int(at)) > MAX_SKEW_SECONDS:
        raise ProtocolError("stale", "The request's time is too far from the portal's; check the agent's clock.")
    return SignedRequest(agent_id, int(at), nonce, b64decode(signature))


def verify_request(public_key: Ed25519PublicKey, signed: SignedRequest, *, method: str, path: str,
                   body: bytes) -> None:
    message = request_string(method=method, path=path, at=str(signed.at), nonce=signed.nonce, body=body)
    try:
        public_key.verify(signed.signature, message)
    except InvalidSignature as exc:
        raise ProtocolError("bad_signature", "The request's signature does not verify.") from exc


# -- import tokens -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenClaims:
    jti: str
    user_id: int
    tenant_id: int
    environment_id: int
    vm_moref: str
    # The user's vCenter identity, whose export privilege the agent checks itself before it exports the VM: signed
    # in, so that the portal's database cannot name another.
    principal: str = ""


def sign_token(key: Ed25519PrivateKey, claims: TokenClaims, *, lifetime_seconds: int,
               now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    payload = {"jti": claims.jti, "uid": claims.user_id, "tid": claims.tenant_id, "env": claims.environment_id,
               "vm": claims.vm_moref, "aud": TOKEN_AUDIENCE, "typ": TOKEN_TYPE, "iat": issued,
               "exp": issued + lifetime_seconds}
    if claims.principal:
        payload["principal"] = claims.principal
    body = b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{b64encode(key.sign(body.encode()))}"


def verify_token(token: str, public_keys: list[Ed25519PublicKey], *, now: float | None = None,
                 max_age_seconds: int | None = None, run_within_seconds: int | None = None) -> TokenClaims:
    """Signature (by any of the pinned keys: the portal's current one and those it is rotating away from),
    expiry, audience and type. Single use and the bindings to a user and VM are checked by whoever holds the
    records (the portal's token row, the agent's own vCenter privilege check). `max_age_seconds` shortens the
    lifetime the token states (a verifier whose limit was lowered after the token was issued).

    `run_within_seconds` is the agent's rule when it is handed the job the token started: a queued migration may
    start long after the token's own expiry (which bounds when the job could be created), so the agent accepts it
    that long after it was issued instead."""
    body, _, signature = token.partition(".")
    if not body or not signature:
        raise ProtocolError("malformed", "The migration token is not valid.")
    raw_signature = b64decode(signature)
    for key in public_keys:
        try:
            key.verify(raw_signature, body.encode())
            break
        except InvalidSignature:
            continue
    else:
        raise ProtocolError("bad_signature", "The migration token is not valid.")
    try:
        payload = json.loads(b64decode(body))
    except ValueError as exc:
        raise ProtocolError("malformed", "The migration token is not valid.") from exc
    if not isinstance(payload, dict) or payload.get("aud") != TOKEN_AUDIENCE or payload.get("typ") != TOKEN_TYPE:
        raise ProtocolError("wrong_audience", "The migration token is not valid.")
    try:
        expires = int(payload["exp"])
        if max_age_seconds is not None:
            expires = min(expires, int(payload["iat"]) + max_age_seconds)
        if run_within_seconds is not None:
            expires = int(payload["iat"]) + run_within_seconds
        claims = TokenClaims(str(payload["jti"]), int(payload["uid"]), int(payload["tid"]), int(payload["env"]),
                             str(payload["vm"]), str(payload.get("principal", "")))
    except (KeyError, ValueError, TypeError) as exc:
        raise ProtocolError("malformed", "The migration token is not valid.") from exc
    if (time.time() if now is None else now) >= expires:
        raise ProtocolError("expired", "The migration token has expired; ask the portal for a new one.")
    return claims
