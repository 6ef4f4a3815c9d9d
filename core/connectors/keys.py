"""The portal's own Ed25519 key: it signs import tokens, and agents pin its public half at registration.

CONNECTOR_SIGNING_KEY is either an Ed25519 private key (32 bytes, base64url: `python -m connector keygen` prints
one) or any other secret, from which the key is derived; so a deployment that set a random string keeps working.
Its fallbacks are keys being rotated away from: their public halves stay pinned until every token they signed has
expired."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from connector import protocol

_DERIVATION = b"vm-migration-portal/connector-signing-key/v1\0"


@lru_cache(maxsize=8)
def _key_from(secret: str) -> Ed25519PrivateKey:
    try:
        return protocol.private_key_from_text(secret)
    except protocol.ProtocolError:
        return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(_DERIVATION + secret.encode()).digest())


def signing_key() -> Ed25519PrivateKey:
    return _key_from(settings.CONNECTOR_SIGNING_KEY)


def public_keys() -> list[Ed25519PublicKey]:
    """The current key's public half first, then the fallbacks'."""
    secrets = [settings.CONNECTOR_SIGNING_KEY, *getattr(settings, "CONNECTOR_SIGNING_KEY_FALLBACKS", [])]
    return [_key_from(secret).public_key() for secret in secrets]


def public_key_texts() -> list[str]:
    return [protocol.public_key_text(key) for key in public_keys()]


def keys_digest() -> str:
    """What an agent that pinned `public_key_texts()` sends with its request for work (`protocol.keys_digest`).
    Asked by every request for work, so kept per set of secrets."""
    return _digest_of((settings.CONNECTOR_SIGNING_KEY, *getattr(settings, "CONNECTOR_SIGNING_KEY_FALLBACKS", [])))


@lru_cache(maxsize=4)
def _digest_of(secrets: tuple) -> str:
    return protocol.keys_digest([protocol.public_key_text(_key_from(secret).public_key()) for secret in secrets])
