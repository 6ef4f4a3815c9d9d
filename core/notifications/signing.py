"""The webhook signature: HMAC-SHA256 over "<timestamp>.<body>" with the webhook's secret, sent as
`X-Portal-Signature: t=<timestamp>,v1=<hex>`. Receivers verify it with the recipe in the README (Webhooks)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "X-Portal-Signature"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
