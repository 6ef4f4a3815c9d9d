"""Tenant B replays every request with tenant A's ids: in the path (404, no fields), in bodies (400), in lists
(never shown)."""

import json

import pytest
from django.urls import reverse

from tests.portal.test_permission_matrix import MATRIX

# The agents' own endpoints refuse every person before reading any id (403, the same for every id); another
# tenant's agent gets 404 for them exactly as for a missing job (tests/agents/test_agent_work_api.py).
PATH_ID_ENDPOINTS = sorted(k for k, (kwargs_of, _, _) in MATRIX.items()
                           if kwargs_of and k[0] != "tenant-detail" and not k[0].startswith("agent-migration-"))


@pytest.mark.parametrize("endpoint", PATH_ID_ENDPOINTS, ids=lambda e: f"{e[1]} {e[0]}")
def test_other_tenants_ids_in_the_path_answer_404_without_fields(endpoint, world, api):
    name, method = endpoint
    kwargs_of, body_of, _ = MATRIX[endpoint]
    url = reverse(f"api:{name}", kwargs=kwargs_of(world))
    body = body_of(world, "other_admin") if body_of else None
    response = api.as_user(world.b.admin).generic(method, url, data=json.dumps(body) if body else "",
                                                   content_type="application/json")
    assert response.status_code == 404
    text = response.content.decode()
    for secret in ("acme", "prod", "web01", "subnet-0123456789abcdef0", "operators"):
        assert secret not in text


def test_lists_never_show_another_tenants_rows(world, api):
    client = api.as_user(world.b.admin)
    for name in ("region-list", "environment-list", "template-list", "instance-list", "user-list", "group-list",
                 "auditlog-list"):
        rows = client.get(reverse(f"api:{name}"), {"page_size": 500}).json()["results"]
        assert rows, name
        assert "acme" not in json.dumps(rows), name


def test_other_tenants_ids_in_bodies_do_not_resolve(world, api):
    a, b = world.a, world.b
    client = api.as_user(b.admin)
    grant = client.post(reverse("api:environment-permissions", kwargs={"pk": b.environment.pk}),
                        {"user": a.user_nogrant.pk, "role": "owner"}, format="json")
    assert grant.status_code == 400
    assert grant.json()["errors"][0]["attr"] == "user"
    group_grant = client.post(reverse("api:environment-permissions", kwargs={"pk": b.environment.pk}),
                              {"group": a.group.pk, "role": "owner"}, format="json")
    assert group_grant.status_code == 400
    template = client.post(reverse("api:template-list"), {
        "environment": b.environment.pk, "name": "x", "ami_id": "ami-0123456789abcdef0", "instance_type": "t3.micro",
        "subnet": a.subnet.pk, "security_group": b.security_group.pk}, format="json")
    assert template.status_code == 400
    assert {e["attr"] for e in template.json()["errors"]} == {"subnet"}
    group = client.post(reverse("api:group-list"), {"name": "mixed", "members": [a.user_ro.pk]}, format="json")
    assert group.status_code == 400
    revoke = client.delete(reverse("api:environment-revoke", kwargs={
        "pk": b.environment.pk, "principal_type": "user", "principal_id": a.user_ro.pk}))
    assert revoke.status_code == 404


def test_a_template_cannot_mix_resources_of_two_environments_of_one_tenant(world, api):
    a = world.a
    response = api.as_user(a.admin).post(reverse("api:template-list"), {
        "environment": a.other_environment.pk, "name": "x", "ami_id": "ami-0123456789abcdef0",
        "instance_type": "t3.micro", "subnet": a.subnet.pk, "security_group": a.security_group.pk}, format="json")
    assert response.status_code == 400
    assert {e["attr"] for e in response.json()["errors"]} == {"subnet", "security_group"}
