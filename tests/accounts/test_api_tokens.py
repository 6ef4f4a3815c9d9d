"""API tokens expire API_TOKEN_LIFETIME_HOURS after they are issued and are revoked whenever the password changes."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from core import services
from tests.world import PASSWORD

NEW_PASSWORD = "another-horse-battery-7"


def _obtain(api, username="acme-ro", password=PASSWORD):
    response = api.post(reverse("api:auth-token"), {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _get(api, token):
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.get(reverse("api:me"))
    api.credentials()
    return response


def _stored(token):
    # knox keeps the token's first 15 characters in clear (token_key) and a digest of the whole.
    return AuthToken.objects.filter(token_key=token[:15])


def _age(token, hours):
    row = _stored(token).get()
    _stored(token).update(created=row.created - timedelta(hours=hours), expiry=row.expiry - timedelta(hours=hours))


def test_the_api_uses_the_expiring_token_authentication():
    assert settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"][0] == \
        "core.api.authentication.ExpiringTokenAuthentication"
    assert "rest_framework.authentication.TokenAuthentication" not in \
        settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert settings.API_TOKEN_LIFETIME_HOURS > 0


def test_a_token_works_until_it_expires(world, api):
    first = _obtain(api)
    assert _get(api, first).status_code == 200
    row = _stored(first).get()
    assert abs(row.expiry - row.created - timedelta(hours=settings.API_TOKEN_LIFETIME_HOURS)) < timedelta(seconds=5)


def test_an_expired_token_is_refused_and_deleted(world, api):
    token = _obtain(api)
    _age(token, settings.API_TOKEN_LIFETIME_HOURS)
    response = _get(api, token)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"
    assert "expired" in response.json()["errors"][0]["detail"]
    assert not _stored(token).exists()


def test_a_token_just_inside_its_lifetime_works(world, api):
    token = _obtain(api)
    _age(token, settings.API_TOKEN_LIFETIME_HOURS - 1)
    assert _get(api, token).status_code == 200


def test_asking_again_after_expiry_issues_a_fresh_token(world, api):
    token = _obtain(api)
    _age(token, settings.API_TOKEN_LIFETIME_HOURS + 1)
    fresh = _obtain(api)
    assert fresh != token and _get(api, fresh).status_code == 200
    assert AuthToken.objects.filter(user=world.a.user_ro).count() == 1


def test_the_lifetime_is_configurable(world, api, settings):
    settings.API_TOKEN_LIFETIME_HOURS = 1
    token = _obtain(api)
    _age(token, 2)
    assert _get(api, token).status_code == 401


def test_a_user_keeps_a_bounded_number_of_tokens(world, api, settings):
    settings.API_TOKENS_PER_USER = 3
    tokens = [_obtain(api) for _ in range(4)]
    assert AuthToken.objects.filter(user=world.a.user_ro).count() == 3
    assert _get(api, tokens[0]).status_code == 401
    assert all(_get(api, t).status_code == 200 for t in tokens[1:])


def test_tokens_issued_before_hashing_keep_working_after_the_migration(world, api):
    """portal 0006 moves DRF's clear keys into knox digests: a script's token keeps working, and its clear key is
    gone from the database."""
    import importlib

    from django.apps import apps
    from rest_framework.authtoken.models import Token

    old = Token.objects.create(user=world.a.user_ro)
    importlib.import_module("core.migrations.0006_api_tokens_hashed").move_tokens(apps, None)
    assert not Token.objects.exists()
    moved = _stored(old.key).get()
    assert moved.digest != old.key and old.key not in moved.digest
    assert moved.expiry == old.created + timedelta(hours=settings.API_TOKEN_LIFETIME_HOURS)
    assert _get(api, old.key).json()["username"] == world.a.user_ro.username


def test_an_administrators_password_reset_revokes_the_token(world, api):
    token = _obtain(api)
    services.user_update(actor=world.a.admin, user=world.a.user_ro, data={}, password=NEW_PASSWORD)
    assert _get(api, token).status_code == 401
    assert _obtain(api, password=NEW_PASSWORD) != token


def test_a_password_reset_through_the_api_revokes_the_token(world, api):
    token = _obtain(api)
    admin = api.post(reverse("api:auth-token"), {"username": "acme-admin", "password": PASSWORD},
                     format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {admin}")
    assert api.patch(reverse("api:user-detail", kwargs={"pk": world.a.user_ro.pk}), {"password": NEW_PASSWORD},
                     format="json").status_code == 200
    api.credentials()
    assert _get(api, token).status_code == 401


def test_other_updates_keep_the_token(world, api):
    token = _obtain(api)
    services.user_update(actor=world.a.admin, user=world.a.user_ro, data={"first_name": "Rita"})
    assert _get(api, token).status_code == 200


def test_the_platform_admins_password_form_revokes_the_token(world, api):
    token = _obtain(api)
    client = Client()
    client.force_login(world.platform)
    response = client.post(reverse("admin:auth_user_password_change", args=[world.a.user_ro.pk]),
                           {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"})
    assert response.status_code == 302, response.content.decode()[:2000]
    world.a.user_ro.refresh_from_db()
    assert world.a.user_ro.check_password(NEW_PASSWORD)
    assert _get(api, token).status_code == 401


@pytest.mark.parametrize("how", ["set_password", "changepassword"])
def test_any_other_password_change_revokes_the_token(world, api, how, monkeypatch):
    token = _obtain(api)
    user = world.a.user_ro
    if how == "set_password":
        user.set_password(NEW_PASSWORD)
        user.save()
    else:
        from django.core.management import call_command

        monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
        call_command("changepassword", user.username)
    assert _get(api, token).status_code == 401
