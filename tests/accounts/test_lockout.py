"""Password guessing is slowed per account and per client address on every login path (django-axes, cache
handler): the API token endpoint, the login page and the platform admin's login."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.world import PASSWORD

TOKEN_URL = "api:auth-token"


def _token(api, username, password, address="198.51.100.1", **extra):
    return api.post(reverse(TOKEN_URL), {"username": username, "password": password}, format="json",
                    REMOTE_ADDR=address, **extra)


def _errors(response):
    body = response.json()
    assert body["type"] == "client_error"
    return body["errors"]


def test_lockout_uses_the_shared_cache_per_username_and_per_address():
    assert settings.AXES_HANDLER == "axes.handlers.cache.AxesCacheHandler"
    assert settings.AXES_CACHE == "default"
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert settings.AXES_COOLOFF_TIME > timedelta(0)
    assert "axes.middleware.AxesMiddleware" == settings.MIDDLEWARE[-1]
    assert settings.AUTHENTICATION_BACKENDS[0] == "core.auth.LoginLockoutBackend"


def test_an_account_attacked_from_many_addresses_is_locked(world, api, lockout):
    for n in range(3):
        assert _token(api, "acme-ro", "wrong", address=f"203.0.113.{n + 1}").status_code in (400, 429)
    # The right password, from yet another address, is refused while the account is locked.
    response = _token(api, "acme-ro", PASSWORD, address="203.0.113.99")
    assert response.status_code == 429
    assert _errors(response)[0]["code"] == "throttled"
    assert "Too many failed logins" in _errors(response)[0]["detail"]
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    # Other accounts are not affected.
    assert _token(api, "acme-general", PASSWORD, address="203.0.113.99").status_code == 200


def test_an_address_attacking_many_accounts_is_locked(world, api, lockout):
    for name in ("alpha", "bravo", "charlie"):
        _token(api, name, "wrong", address="192.0.2.66")
    assert _token(api, "acme-ro", PASSWORD, address="192.0.2.66").status_code == 429
    # The same account from another address is fine: its own count is 0.
    assert _token(api, "acme-ro", PASSWORD, address="192.0.2.67").status_code == 200


def test_the_failure_that_reaches_the_limit_already_answers_429(world, api, lockout):
    assert [_token(api, "acme-ro", "wrong").status_code for _ in range(4)] == [400, 400, 429, 429]


def test_a_forged_x_forwarded_for_changes_nothing(world, api, lockout):
    for n in range(3):
        _token(api, f"user{n}", "wrong", address="192.0.2.10", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")
    response = _token(api, "acme-ro", PASSWORD, address="192.0.2.10", HTTP_X_FORWARDED_FOR="10.9.9.200")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_client_address_is_what_the_proxy_saw(world, api, lockout):
    lockout.TRUSTED_PROXY_COUNT = 1
    for n in range(3):
        # The client forges a first entry; the proxy (REMOTE_ADDR 10.0.0.1) appends the real address.
        _token(api, f"user{n}", "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 192.0.2.33")
    assert _token(api, "acme-ro", PASSWORD, address="10.0.0.1",
                  HTTP_X_FORWARDED_FOR="192.0.2.34").status_code == 200
    assert _token(api, "acme-ro", PASSWORD, address="10.0.0.1",
                  HTTP_X_FORWARDED_FOR="5.5.5.5, 192.0.2.33").status_code == 429


def test_the_lockout_ends_after_the_cool_off(world, api, lockout):
    lockout.AXES_COOLOFF_TIME = timedelta(seconds=1)
    for _ in range(3):
        _token(api, "acme-ro", "wrong")
    assert _token(api, "acme-ro", PASSWORD).status_code == 429
    time.sleep(1.3)
    assert _token(api, "acme-ro", PASSWORD).status_code == 200


def test_attempts_during_a_lockout_do_not_prolong_it(world, api, lockout):
    lockout.AXES_COOLOFF_TIME = timedelta(seconds=2)
    for _ in range(3):
        _token(api, "acme-ro", "wrong")
    time.sleep(1.2)
    assert _token(api, "acme-ro", "wrong").status_code == 429
    time.sleep(1.2)
    assert _token(api, "acme-ro", PASSWORD).status_code == 200


def test_the_login_page_is_locked_too(world, lockout):
    client = Client(REMOTE_ADDR="198.51.100.5")
    for _ in range(2):
        page = client.post(reverse("login"), {"username": "acme-ro", "password": "wrong"})
        assert page.status_code == 200 and b"Please enter a correct username and password" in page.content
    page = client.post(reverse("login"), {"username": "acme-ro", "password": "wrong"})
    assert page.status_code == 429 and b"Too many failed logins" in page.content
    page = client.post(reverse("login"), {"username": "acme-ro", "password": PASSWORD})
    assert page.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_platform_admin_login_is_locked_too(world, lockout):
    client = Client(REMOTE_ADDR="198.51.100.6")
    url = reverse("admin:login")
    for _ in range(3):
        client.post(url, {"username": "platform-op", "password": "wrong"})
    page = client.post(url, {"username": "platform-op", "password": PASSWORD})
    assert page.status_code == 429 and b"Too many failed logins" in page.content
    # Every path shares the counts: the token endpoint refuses the same account.
    assert Client(REMOTE_ADDR="198.51.100.7").post(
        reverse(TOKEN_URL), {"username": "platform-op", "password": PASSWORD},
        content_type="application/json").status_code == 429


def test_successful_logins_still_work(world, api):
    assert _token(api, "acme-ro", PASSWORD).status_code == 200
    client = Client()
    response = client.post(reverse("login"), {"username": "acme-ro", "password": PASSWORD})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(world.a.user_ro.pk)


@pytest.mark.parametrize("header, proxies, expected", [
    ({}, 0, "192.0.2.1"),
    ({"HTTP_X_FORWARDED_FOR": "6.6.6.6"}, 0, "192.0.2.1"),
    ({"HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.9"}, 1, "198.51.100.9"),
    ({"HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.9, 10.0.0.2"}, 2, "198.51.100.9"),
    # Fewer entries than trusted proxies: the request did not come through them all.
    ({"HTTP_X_FORWARDED_FOR": "198.51.100.9"}, 2, "192.0.2.1"),
    ({}, 1, "192.0.2.1"),
    # What a proxy wrote is not an address: the connection's address is used.
    ({"HTTP_X_FORWARDED_FOR": "unknown"}, 1, "192.0.2.1"),
    ({"HTTP_X_FORWARDED_FOR": "198.51.100.9:5123"}, 1, "198.51.100.9"),
    ({"HTTP_X_FORWARDED_FOR": "[2001:db8::7]:443"}, 1, "2001:db8::7"),
])
def test_client_address(rf, settings, header, proxies, expected):
    from core.middleware import client_address

    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_address(rf.get("/", REMOTE_ADDR="192.0.2.1", **header)) == expected
