"""A refusal is a page that says why, not a bare status: 403 with the gate's reason in an alert."""

from django.test import Client

from tests.world import PASSWORD


def test_a_role_that_may_see_but_not_change_gets_403_with_the_reason(world):
    client = Client()
    assert client.login(username=world.a.auditor.username, password=PASSWORD)
    response = client.get(f"/connector/agents/{world.a.agent.pk}/revoke/")
    page = response.content.decode()
    assert response.status_code == 403
    assert '<p role="alert">Your role does not allow this.</p>' in page and "ask an administrator" in page
