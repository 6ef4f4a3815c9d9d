"""Bad input gets a clear 400/404/409 in the one error format, and nothing is half-written."""

import pytest
from django.urls import reverse

from core.models import AuditLog, User
from environments.models import Environment, Region


def _errors(response):
    body = response.json()
    assert set(body) == {"type", "errors"}
    return body["errors"]


@pytest.fixture
def admin_client(world, api):
    return api.as_user(world.a.admin)


def test_unknown_region_code_is_refused_and_nothing_is_written(world, admin_client):
    before = (Region.objects.count(), Environment.objects.count(), AuditLog.objects.count())
    response = admin_client.post(reverse("api:region-list"), {"code": "us-middle-7"}, format="json")
    assert response.status_code == 400
    assert "not an AWS region code" in _errors(response)[0]["detail"]
    assert _errors(response)[0]["attr"] == "code"
    assert (Region.objects.count(), Environment.objects.count(), AuditLog.objects.count()) == before


def test_real_region_codes_of_every_partition_are_accepted(world, admin_client):
    for code in ("eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"):
        response = admin_client.post(reverse("api:region-list"), {"code": code}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["default_environment"] is not None


def test_duplicate_region_is_a_conflict(world, admin_client):
    response = admin_client.post(reverse("api:region-list"), {"code": "us-east-1"}, format="json")
    assert response.status_code == 409
    assert _errors(response)[0]["code"] == "duplicate"


@pytest.mark.parametrize("vpc_id", ["vpc-123", "VPC-0123456789abcdef0", "subnet-0123456789abcdef0", "", "vpc-" + "a" * 30])
def test_vpc_ids_of_the_wrong_shape_are_refused(world, admin_client, vpc_id):
    response = admin_client.post(reverse("api:environment-list"),
                                 {"region": world.a.region.pk, "name": "qa", "vpc_id": vpc_id}, format="json")
    assert response.status_code == 400
    assert _errors(response)[0]["attr"] == "vpc_id"
    assert not Environment.objects.filter(name="qa").exists()


def test_duplicate_environment_name_in_a_region_is_a_conflict(world, admin_client):
    response = admin_client.post(reverse("api:environment-list"),
                                 {"region": world.a.region.pk, "name": "prod", "vpc_id": "vpc-0eeeeeeeeeeeeeee1"},
                                 format="json")
    assert response.status_code == 409
    assert "already exists" in _errors(response)[0]["detail"]


def test_the_default_environment_cannot_be_deleted_or_moved(world, admin_client):
    url = reverse("api:environment-detail", kwargs={"pk": world.a.default_environment.pk})
    response = admin_client.delete(url)
    assert response.status_code == 409
    assert "default environment" in _errors(response)[0]["detail"]
    assert admin_client.patch(url, {"vpc_id": "vpc-0eeeeeeeeeeeeeee1"}, format="json").status_code == 409
    assert Environment.objects.filter(pk=world.a.default_environment.pk, vpc_id="").exists()


def test_grants_to_users_of_another_tenant_or_on_another_tenants_environment(world, admin_client):
    a, b = world.a, world.b
    foreign_user = admin_client.post(reverse("api:environment-permissions", kwargs={"pk": a.environment.pk}),
                                     {"user": b.user_ro.pk, "role": "general"}, format="json")
    assert foreign_user.status_code == 400
    foreign_env = admin_client.post(reverse("api:environment-permissions", kwargs={"pk": b.environment.pk}),
                                    {"user": a.user_ro.pk, "role": "general"}, format="json")
    assert foreign_env.status_code == 404


def test_grant_needs_exactly_one_principal_and_a_known_role(world, admin_client):
    url = reverse("api:environment-permissions", kwargs={"pk": world.a.environment.pk})
    assert admin_client.post(url, {"role": "owner"}, format="json").status_code == 400
    both = admin_client.post(url, {"user": world.a.user_ro.pk, "group": world.a.group.pk, "role": "owner"},
                             format="json")
    assert both.status_code == 400
    bad_role = admin_client.post(url, {"user": world.a.user_ro.pk, "role": "god"}, format="json")
    assert bad_role.status_code == 400 and _errors(bad_role)[0]["attr"] == "role"
    auditor = admin_client.post(url, {"user": world.a.auditor.pk, "role": "owner"}, format="json")
    assert auditor.status_code == 400
    assert "for users" in _errors(auditor)[0]["detail"]


def test_malformed_json_wrong_types_and_oversized_fields(world, admin_client):
    url = reverse("api:environment-list")
    malformed = admin_client.generic("POST", url, "{not json", content_type="application/json")
    assert malformed.status_code == 400
    assert _errors(malformed)[0]["code"] == "parse_error"
    wrong_type = admin_client.post(url, {"region": "first", "name": ["x"], "vpc_id": 7}, format="json")
    assert wrong_type.status_code == 400
    assert {e["attr"] for e in _errors(wrong_type)} >= {"region", "name"}
    too_long = admin_client.post(url, {"region": world.a.region.pk, "name": "x" * 65,
                                       "vpc_id": "vpc-0eeeeeeeeeeeeeee1", "description": "d" * 501}, format="json")
    assert too_long.status_code == 400
    assert {e["attr"] for e in _errors(too_long)} == {"name", "description"}
    not_a_list = admin_client.generic("POST", url, "[1, 2]", content_type="application/json")
    assert not_a_list.status_code == 400


def test_user_input_errors(world, admin_client):
    url = reverse("api:user-list")
    dup = admin_client.post(url, {"username": "acme-ro", "password": "another-long-pass-1", "role": "user"},
                            format="json")
    assert dup.status_code == 409
    weak = admin_client.post(url, {"username": "weakling", "password": "123", "role": "user"}, format="json")
    assert weak.status_code == 400 and _errors(weak)[0]["attr"] == "password"
    principal = admin_client.post(url, {"username": "p", "role": "user", "vcenter_principal": "no domain here"},
                                  format="json")
    assert principal.status_code == 400 and _errors(principal)[0]["attr"] == "vcenter_principal"
    assert not User.objects.filter(username__in=["weakling", "p"]).exists()
    ok = admin_client.post(url, {"username": "alice", "role": "user", "vcenter_principal": "VSPHERE.LOCAL\\alice"},
                           format="json")
    assert ok.status_code == 201
    assert ok.json()["vcenter_principal"] == "VSPHERE.LOCAL\\alice"
    assert "password" not in ok.json()


def test_admins_cannot_lock_themselves_out(world, admin_client):
    url = reverse("api:user-detail", kwargs={"pk": world.a.admin.pk})
    assert admin_client.patch(url, {"role": "user"}, format="json").status_code == 409
    assert admin_client.patch(url, {"is_active": False}, format="json").status_code == 409


def test_deactivated_users_lose_their_api_tokens(world, api, admin_client):
    token = api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "correct-horse-battery-9"},
                     format="json").json()["token"]
    admin_client.patch(reverse("api:user-detail", kwargs={"pk": world.a.user_ro.pk}), {"is_active": False},
                       format="json")
    api.force_authenticate(user=None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(reverse("api:environment-list")).status_code == 401


def test_unknown_ids_answer_404_in_the_error_format(world, admin_client):
    response = admin_client.get(reverse("api:environment-detail", kwargs={"pk": 999999}))
    assert response.status_code == 404
    assert _errors(response)[0]["code"] == "not_found"
