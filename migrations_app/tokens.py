"""Connector tokens: the portal's proof that a user may migrate one VM into one environment.

Signed with the portal's Ed25519 key (core.connectors.keys; never SECRET_KEY) in the format `connector.protocol`
defines, so an agent verifies a token with the public key it pinned and needs no secret of the portal's. Valid
for CONNECTOR_TOKEN_MAX_AGE seconds, bound to user, tenant, environment and VM, typed and addressed to the
connector, and single-use through the ImportToken row it names."""

from __future__ import annotations

from django.conf import settings

from connector import protocol
from connector.protocol import TokenClaims
from core.connectors import keys

__all__ = ["TokenClaims", "TokenInvalid", "sign", "verify"]


# A token that does not verify: the protocol's own error (a short `reason`, a message fit to show).
TokenInvalid = protocol.ProtocolError


def sign(claims: TokenClaims) -> str:
    return protocol.sign_token(keys.signing_key(), claims, lifetime_seconds=settings.CONNECTOR_TOKEN_MAX_AGE)


def verify(token: str) -> TokenClaims:
    """Signature, expiry, audience and type; single use and bindings are the caller's (they need the DB)."""
    return protocol.verify_token(token, keys.public_keys(), max_age_seconds=settings.CONNECTOR_TOKEN_MAX_AGE)
