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


def test_a_queued_jobs_token_is_accepted_within_the_agents_window_and_not_after():
    key = protocol.new_private_key()
    issued = time.time() - 3600  # issued an hour ago, expired 55 minutes ago: the job waited in its queue
    token = protocol.sign_token(key, CLAIMS, lifetime_seconds=300, now=issued)
    with pytest.raises(protocol.ProtocolError):
        protocol.verify_token(token, [key.public_key()])
    assert protocol.verify_token(token, [key.public_key()], run_within_seconds=7200) == CLAIMS
    with pytest.raises(protocol.ProtocolError) as late:
        protocol.verify_token(token, [key.public_key()], run_within_seconds=1800)
    assert late.value.reason == "expired"


class RecordingPortal:
    """Stands in for the portal: records what the agent tells it."""

    def __init__(self):
        self.calls = []

    def post(self, path, payload, **_):
        self.calls.append((path, payload))
        return {}


@pytest.mark.parametrize("forgery", ["signed_by_another_key", "another_vm", "no_principal"])
def test_the_agent_refuses_a_job_whose_token_fails_whatever_the_portal_says(forgery, tmp_path):
    from connector import config, work

    portal_key, attacker_key = protocol.new_private_key(), protocol.new_private_key()
    claims = protocol.TokenClaims("0f8e", 7, 3, 11, "vm-40", principal="VSPHERE.LOCAL\\alice")
    token = {
        "signed_by_another_key": protocol.sign_token(attacker_key, claims, lifetime_seconds=60),
        "another_vm": protocol.sign_token(portal_key, protocol.TokenClaims("0f8e", 7, 3, 11, "vm-99",
                                                                           principal="VSPHERE.LOCAL\\alice"),
                                          lifetime_seconds=60),
        "no_principal": protocol.sign_token(portal_key, CLAIMS, lifetime_seconds=60),
    }[forgery]
    settings = config.Config(portal_url="http://127.0.0.1:1", agent_id="1", private_key="",
                             portal_public_keys=[protocol.public_key_text(portal_key)],
                             vcenter={"url": "https://192.0.2.1/sdk", "username": "u", "password": "p"})
    portal = RecordingPortal()
    handout = {"job_id": 5, "epoch": 2, "token": token, "vm_moref": "vm-40", "vm_name": "web01", "power_off": False,
               "lease_seconds": 60, "part_size": 5 << 20, "concurrency": 1, "max_disk_bytes": 1 << 30}
    assert work.MigrationExport(handout, portal, settings).run() == "failed"
    [(path, payload)] = [call for call in portal.calls if call[0].endswith("failed/")]
    assert path == "agent/migrations/5/failed/" and payload["transient"] is False and payload["epoch"] == 2
    assert payload["code"] == {"signed_by_another_key": "token_bad_signature", "another_vm": "token_binding",
                               "no_principal": "token_binding"}[forgery]


def test_an_agent_being_updated_takes_no_new_work_and_says_so(tmp_path):
    import subprocess
    import sys

    from connector import config, work

    path = tmp_path / "config.json"
    config.save(config.Config(portal_url="http://127.0.0.1:1", agent_id="1", private_key="",
                              portal_public_keys=[]), path)
    switched = subprocess.run([sys.executable, "-m", "connector", "--config", str(path), "updating", "on"],
                              env={}, capture_output=True, text=True, timeout=60)
    assert switched.returncode == 0, switched.stderr
    assert config.load(path).updating is True
    portal = RecordingPortal()
    loop = work.WorkLoop(lambda: portal, lambda: config.load(path))
    assert loop.poll_once(wait=0) == 0 and portal.calls == []  # it did not even ask
