"""The Connector page's agents: an administrator creates one and reads its code once, asks for a key rotation and
revokes one after confirming; an auditor reads the same table without a control that changes anything."""

import re

from django.test import Client

from core.connectors.models import Agent
from tests.world import PASSWORD


def _client(user):
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_code_is_shown_once_with_the_register_command(world):
    admin = _client(world.a.admin)
    page = admin.post("/connector/", {"form": "add", "agent-name": "dc-east"}).content.decode()
    code = re.search(r"--code (vmpr_[A-Za-z0-9_-]+)", page).group(1)
    assert "python -m connector register --portal http://testserver" in page
    again = admin.get("/connector/").content.decode()
    assert code not in again and "dc-east" in again and "Waiting for registration" in again
    duplicate = admin.post("/connector/", {"form": "add", "agent-name": "dc-east"}).content.decode()
    assert "already has a connector agent of that name" in duplicate


def test_rotation_and_a_confirmed_revoke(world):
    agent = world.a.agent
    Agent.objects.filter(pk=agent.pk).update(public_key="A" * 43)
    admin = _client(world.a.admin)
    rotated = admin.post("/connector/", {"form": "rotate", "id": agent.pk}, follow=True).content.decode()
    assert "will replace its key at its next contact" in rotated and "key rotation asked" in rotated
    confirm = admin.get(f"/connector/agents/{agent.pk}/revoke/").content.decode()
    assert f"Yes, revoke agent {agent.name}" in confirm and "No, keep it" in confirm
    assert Agent.objects.get(pk=agent.pk).revoked_at is None  # asking changed nothing
    admin.post(f"/connector/agents/{agent.pk}/revoke/")
    assert Agent.objects.get(pk=agent.pk).state == "revoked"
    assert admin.get(f"/connector/agents/{world.b.agent.pk}/revoke/").status_code == 404


def test_the_auditor_reads_without_controls(world):
    page = _client(world.a.auditor).get("/connector/").content.decode()
    assert world.a.agent.name in page
    assert "<title>Connector · VM migration portal</title>" in page and page.count("Connector agents") == 1
    assert "Add a connector agent" not in page and "Revoke" not in page and "Rotate key" not in page
