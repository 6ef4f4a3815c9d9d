"""Connector agents through the API: an administrator creates one and sees its registration code once, the agent
exchanges the code for its own key and signs every request with it; whatever is not exactly that is refused."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from connector import protocol
from core.connectors.models import Agent
from core.models import AuditLog

HEARTBEAT = "/api/v1/agent/heartbeat/"
ROTATE = "/api/v1/agent/rotate/"


def _create(api, admin, name="dc-new"):
    response = api.as_user(admin).post("/api/v1/agents/", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _register(code, key, version="0.1.0"):
    return APIClient().post("/api/v1/agent/register/", {"code": code, "public_key": protocol.public_key_text(key),
                                                         "version": version, "hostname": "vc-side-01"},
                            format="json")


def _signed(agent_id, key, path, payload, *, headers=None):
    body = json.dumps(payload).encode()
    headers = headers or protocol.sign_request(key, agent_id=str(agent_id), method="POST", path=path, body=body)
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return APIClient().generic("POST", path, body, content_type="application/json", **meta), headers


@pytest.fixture
def registered(world, api):
    created = _create(api, world.a.admin)
    key = protocol.new_private_key()
    answer = _register(created["registration_code"], key)
    assert answer.status_code == 201, answer.content
    return answer.json(), key


def test_the_code_is_shown_once_and_only_administrators_create(world, api):
    created = _create(api, world.a.admin)
    assert created["registration_code"].startswith("vmpr_") and created["state"] == "waiting for registration"
    agent = Agent.objects.get(pk=created["id"])
    assert created["registration_code"] not in agent.code_digest  # only its digest is kept
    listed = api.as_user(world.a.auditor).get("/api/v1/agents/").json()["results"]
    assert [a["name"] for a in listed] == ["dc-new", "dc1"] and "registration_code" not in listed[0]
    assert api.as_user(world.a.auditor).post("/api/v1/agents/", {"name": "x"}, format="json").status_code == 403
    assert api.as_user(world.a.user_owner).get("/api/v1/agents/").status_code == 403
    assert api.as_user(world.b.admin).get(f"/api/v1/agents/{agent.pk}/").status_code == 404
    assert AuditLog.objects.filter(action="agent.create", tenant=world.a.tenant).count() == 1


def test_registration_pins_the_portal_key_and_the_code_works_once(world, api):
    created = _create(api, world.a.admin)
    answer = _register(created["registration_code"], protocol.new_private_key())
    assert answer.status_code == 201
    body = answer.json()
    assert body["tenant"] == "acme" and len(body["portal_public_keys"]) >= 1
    again = _register(created["registration_code"], protocol.new_private_key())
    assert again.status_code == 400 and "not valid" in again.content.decode()
    agent = Agent.objects.get(pk=created["id"])
    assert agent.state == "registered" and agent.code_digest == "" and agent.version == "0.1.0"
    assert agent.address == "127.0.0.1" and agent.hostname == "vc-side-01"


def test_an_expired_or_unknown_code_is_refused_alike(world, api):
    created = _create(api, world.a.admin)
    Agent.objects.filter(pk=created["id"]).update(code_expires_at=timezone.now() - timedelta(seconds=1))
    expired = _register(created["registration_code"], protocol.new_private_key())
    unknown = _register("vmpr_" + "x" * 43, protocol.new_private_key())
    assert expired.status_code == unknown.status_code == 400
    assert expired.json()["errors"] == unknown.json()["errors"]
    assert AuditLog.objects.filter(action="agent.register", outcome="denied").count() == 2


def test_a_signed_heartbeat_records_contact_and_a_replay_is_refused(world, registered):
    answer, key = registered
    response, headers = _signed(answer["agent_id"], key, HEARTBEAT, {"version": "0.1.1", "hostname": "h2",
                                                                     "vcenter_version": "8.0.2"})
    assert response.status_code == 200, response.content
    assert response.json()["rotate"] is False
    assert response.json()["work_wait_seconds"] == settings.AGENT_WORK_WAIT_SECONDS  # the wait to ask for
    agent = Agent.objects.get(pk=answer["agent_id"])
    assert agent.version == "0.1.1" and agent.vcenter_version == "8.0.2" and agent.last_contact_at is not None
    replay, _ = _signed(answer["agent_id"], key, HEARTBEAT, {"version": "0.1.1", "hostname": "h2",
                                                             "vcenter_version": "8.0.2"}, headers=headers)
    assert replay.status_code == 401 and "already received" in replay.content.decode()


def test_unknown_foreign_wrong_key_tampered_and_revoked_look_alike(world, api, registered):
    answer, key = registered
    other_tenant = _create(api, world.b.admin, name="dc9")
    other_key = protocol.new_private_key()
    other = _register(other_tenant["registration_code"], other_key).json()
    refusals = [
        _signed("999999", key, HEARTBEAT, {})[0],  # no such agent
        _signed(other["agent_id"], key, HEARTBEAT, {})[0],  # another tenant's agent, not our key
        _signed(answer["agent_id"], other_key, HEARTBEAT, {})[0],  # our agent, another key
    ]
    good = protocol.sign_request(key, agent_id=answer["agent_id"], method="POST", path=HEARTBEAT, body=b"{}")
    refusals.append(_signed(answer["agent_id"], key, HEARTBEAT, {"version": "evil"}, headers=good)[0])  # tampered
    api.as_user(world.a.admin).post(f"/api/v1/agents/{answer['agent_id']}/revoke/")
    refusals.append(_signed(answer["agent_id"], key, HEARTBEAT, {})[0])  # revoked
    assert {r.status_code for r in refusals} == {401}
    assert len({json.dumps(r.json()["errors"]) for r in refusals}) == 1, [r.json() for r in refusals]
    assert Agent.objects.get(pk=answer["agent_id"]).state == "revoked"


def test_an_agent_is_no_person(world, registered):
    answer, key = registered
    body = b""
    headers = protocol.sign_request(key, agent_id=answer["agent_id"], method="GET", path="/api/v1/migrations/",
                                    body=body)
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    response = APIClient().get("/api/v1/migrations/", **meta)
    assert response.status_code in (401, 403)


def test_rotation_asked_by_an_administrator_replaces_the_key(world, api, registered):
    answer, key = registered
    assert api.as_user(world.a.auditor).post(f"/api/v1/agents/{answer['agent_id']}/rotate/").status_code == 403
    assert api.as_user(world.a.admin).post(f"/api/v1/agents/{answer['agent_id']}/rotate/").status_code == 200
    beat, _ = _signed(answer["agent_id"], key, HEARTBEAT, {})
    assert beat.json()["rotate"] is True
    new_key = protocol.new_private_key()
    rotated, _ = _signed(answer["agent_id"], key, ROTATE, {"public_key": protocol.public_key_text(new_key)})
    assert rotated.status_code == 204
    assert _signed(answer["agent_id"], key, HEARTBEAT, {})[0].status_code == 401
    after = _signed(answer["agent_id"], new_key, HEARTBEAT, {})[0]
    assert after.status_code == 200 and after.json()["rotate"] is False
    assert AuditLog.objects.filter(action="agent.rotate", tenant=world.a.tenant).count() == 1
