"""Connector tokens: the portal's proof that a user may migrate one VM into one environment.

Signed with CONNECTOR_SIGNING_KEY (never SECRET_KEY), salted for this one purpose, valid for
CONNECTOR_TOKEN_MAX_AGE seconds, bound to user, tenant, environment and VM, typed and addressed to the
connector, and single-use through the ImportToken row it names."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "portal.migrations.import-token"
AUDIENCE = "connector"
TOKEN_TYPE = "vm-import"


@dataclass(frozen=True)
class TokenClaims:
    jti: str
    user_id: int
    tenant_id: int
    environment_id: int
    vm_moref: str


class TokenInvalid(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(key=settings.CONNECTOR_SIGNING_KEY, salt=SALT,
                                   fallback_keys=getattr(settings, "CONNECTOR_SIGNING_KEY_FALLBACKS", []))


def sign(claims: TokenClaims) -> str:
    payload = {"jti": claims.jti, "uid": claims.user_id, "tid": claims.tenant_id, "env": claims.environment_id,
               "vm": claims.vm_moref, "aud": AUDIENCE, "typ": TOKEN_TYPE}
    return _signer().sign_object(payload, compress=True)


def verify(token: str) -> TokenClaims:
    """Signature, expiry, audience and type; single use and bindings are the caller's (they need the DB)."""
    try:
        payload = _signer().unsign_object(token, max_age=settings.CONNECTOR_TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise TokenInvalid("expired", "The migration token has expired; ask the portal for a new one.") from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise TokenInvalid("bad_signature", "The migration token is not valid.") from exc
    if not isinstance(payload, dict) or payload.get("aud") != AUDIENCE or payload.get("typ") != TOKEN_TYPE:
        raise TokenInvalid("wrong_audience", "The migration token is not valid.")
    try:
        return TokenClaims(str(payload["jti"]), int(payload["uid"]), int(payload["tid"]), int(payload["env"]),
                           str(payload["vm"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid("malformed", "The migration token is not valid.") from exc
