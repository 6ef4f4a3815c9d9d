"""`is_active` on user creation is honoured: an administrator who asks for an inactive account gets one."""

from core.models import AuditLog, User
from tests.world import PASSWORD

URL = "/api/v1/users/"


def test_creating_an_inactive_user(world, call):
    response = call(world.a.admin, "POST", URL, {"username": "dormant", "password": PASSWORD, "role": "user",
                                                  "is_active": False})
    assert response.status_code == 201, response.content
    assert response.json()["is_active"] is False
    user = User.objects.get(username="dormant")
    assert not user.is_active and user.tenant_id == world.a.tenant.pk
    actions = list(AuditLog.objects.filter(object_id=str(user.pk)).order_by("id").values_list("action", flat=True))
    assert actions == ["user.create", "user.update"]
    assert call(None, "POST", "/api/v1/auth/token/", {"username": "dormant", "password": PASSWORD}).status_code == 400


def test_users_are_active_unless_asked_otherwise(world, call):
    for name, extra in (("plain", {}), ("explicit", {"is_active": True})):
        response = call(world.a.admin, "POST", URL, {"username": name, "role": "user", **extra})
        assert response.status_code == 201, response.content
        assert User.objects.get(username=name).is_active
    assert AuditLog.objects.filter(action="user.update").count() == 0


def test_a_refused_inactive_user_leaves_nothing_behind(world, call):
    before = (User.objects.count(), AuditLog.objects.count())
    response = call(world.a.admin, "POST", URL, {"username": world.a.user_ro.username, "role": "user",
                                                  "is_active": False})
    assert response.status_code == 409
    assert (User.objects.count(), AuditLog.objects.count()) == before
