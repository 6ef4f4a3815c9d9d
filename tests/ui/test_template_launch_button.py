"""The Templates tab shows a Launch button per template exactly to those whom the launch page would let in."""

import pytest
from django.test import Client
from django.urls import reverse


def _page(user, a):
    client = Client()
    client.force_login(user)
    return client, client.get(reverse("ui:environment-templates", args=[a.environment.pk])).content.decode()


@pytest.mark.parametrize("role", ["user_general", "user_owner", "admin", "user_ro", "auditor"])
def test_launch_button_shows_exactly_when_the_launch_page_opens(world, role):
    a = world.a
    user = getattr(a, role)
    client, page = _page(user, a)
    launch = reverse("ui:template-launch", args=[a.template.pk])
    opens = client.get(launch).status_code == 200
    assert (f'href="{launch}"' in page) is opens
    assert opens is (role in ("user_general", "user_owner", "admin"))
