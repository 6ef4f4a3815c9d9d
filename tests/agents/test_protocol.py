"""The protocol both sides sign with (connector/protocol.py), checked without a portal."""

import time

import pytest

from connector import protocol

CLAIMS = protocol.TokenClaims("0f8e", 7, 3, 11, "vm-40")


def test_a_token_verifies_with_the_pinned_key_and_with_a_key_being_rotated_away_from():
    old, new = protocol.new_private_key(), protocol.new_private_key()
    token = protocol.sign_token(old, CLAIMS, lifetime_seconds=60)
    assert protocol.verify_token(token, [new.public_key(), old.public_key()]) == CLAIMS
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.verify_token(token, [new.public_key()])
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("change", ["payload", "signature", "truncate", "garbage"])
def test_a_tampered_token_is_refused(change):
    key = protocol.new_private_key()
    token = protocol.sign_token(key, CLAIMS, lifetime_seconds=60)
    body, signature = token.split(".")
    forged = {
        # The same claims for another VM, under the original signature.
        "payload": protocol.b64encode(protocol.b64decode(body).replace(b"vm-40", b"vm-41")) + "." + signature,
        "signature": body + "." + signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB"),
        "truncate": body,
        "garbage": "not a token at all",
    }[change]
    with pytest.raises(protocol.ProtocolError):
        protocol.verify_token(forged, [key.public_key()])


def test_an_expired_token_and_a_lowered_max_age_are_refused():
    key = protocol.new_private_key()
    issued = time.time() - 120
    token = protocol.sign_token(key, CLAIMS, lifetime_seconds=60, now=issued)
    with pytest.raises(protocol.ProtocolError) as expired:
        protocol.verify_token(token, [key.public_key()])
    assert expired.value.reason == "expired"
    fresh = protocol.sign_token(key, CLAIMS, lifetime_seconds=600, now=issued)
    assert protocol.verify_token(fresh, [key.public_key()]) == CLAIMS
    with pytest.raises(protocol.ProtocolError):
        protocol.verify_token(fresh, [key.public_key()], max_age_seconds=60)


def test_a_request_signature_binds_method_path_body_and_time():
    key = protocol.new_private_key()
    headers = protocol.sign_request(key, agent_id="5", method="POST", path="/api/v1/agent/heartbeat/", body=b"{}")
    signed = protocol.read_request_headers(headers)
    protocol.verify_request(key.public_key(), signed, method="POST", path="/api/v1/agent/heartbeat/", body=b"{}")
    for method, path, body in (("GET", "/api/v1/agent/heartbeat/", b"{}"), ("POST", "/api/v1/agent/rotate/", b"{}"),
                               ("POST", "/api/v1/agent/heartbeat/", b'{"a":1}')):
        with pytest.raises(protocol.ProtocolError):
            protocol.verify_request(key.public_key(), signed, method=method, path=path, body=body)
    stale = protocol.sign_request(key, agent_id="5", method="POST", path="/", body=b"",
                                  now=time.time() - protocol.MAX_SKEW_SECONDS - 5)
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.read_request_headers(stale)
    assert refused.value.reason == "stale"
    with pytest.raises(protocol.ProtocolError) as unsigned:
        protocol.read_request_headers({})
    assert unsigned.value.reason == "unsigned"


def test_keys_round_trip_as_text():
    key = protocol.new_private_key()
    again = protocol.private_key_from_text(protocol.private_key_text(key))
    assert protocol.public_key_text(again) == protocol.public_key_text(key)
    with pytest.raises(protocol.ProtocolError):
        protocol.public_key_from_text(protocol.b64encode(b"short"))
