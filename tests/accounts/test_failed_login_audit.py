"""Failed logins are audited on every path, from the client address the lockout uses, and a flood of them cannot
grow the audit log without bound."""

from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse

from core import audit
from core.models import AuditLog, AuditOutcome
from tests.world import PASSWORD


@pytest.fixture
def generous_lockout(settings):
    # These tests count audit rows, not lockouts.
    settings.AXES_FAILURE_LIMIT = 1000
    return settings


@pytest.fixture
def clock(monkeypatch):
    """The audit windows' clock, and only theirs."""
    now = SimpleNamespace(value=1_800_000_000.0)
    monkeypatch.setattr(audit, "time", SimpleNamespace(time=lambda: now.value))
    return now


def _failed(**filters):
    return list(AuditLog.objects.filter(action="auth.failed", **filters).order_by("id"))


def test_every_login_path_audits_its_failures(world, api):
    api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "x"}, format="json",
             REMOTE_ADDR="198.51.100.1")
    Client(REMOTE_ADDR="198.51.100.2").post(reverse("login"), {"username": "mallory", "password": "x"})
    Client(REMOTE_ADDR="198.51.100.3").post(reverse("admin:login"), {"username": "platform-op", "password": "x"})
    rows = _failed()
    assert [(r.detail["username"], r.detail["path"], r.remote_addr) for r in rows] == [
        ("acme-ro", "/api/v1/auth/token/", "198.51.100.1"),
        ("mallory", "/accounts/login/", "198.51.100.2"),
        ("platform-op", "/platform-admin/login/", "198.51.100.3"),
    ]
    assert all(r.outcome == AuditOutcome.DENIED and r.actor is None and r.actor_username == "" for r in rows)
    assert all(r.detail["reason"] == "invalid_credentials" for r in rows)
    # An attack on a tenant's account shows in that tenant's log; unknown names and operators in the platform's.
    assert [r.tenant_id for r in rows] == [world.a.tenant.pk, None, None]
    assert not any("x" == v for r in rows for v in r.detail.values())


def test_successful_token_logins_keep_their_audit_row(world, api):
    assert api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": PASSWORD},
                    format="json").status_code == 200
    row = AuditLog.objects.get(action="auth.token")
    assert row.actor == world.a.user_ro and row.outcome == AuditOutcome.SUCCESS and row.tenant == world.a.tenant


def test_the_audit_address_ignores_a_forged_forwarded_for(world, api, settings):
    api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "x"}, format="json",
             REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.250")
    settings.TRUSTED_PROXY_COUNT = 1
    api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "x"}, format="json",
             REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert [r.remote_addr for r in _failed()] == ["198.51.100.1", "203.0.113.7"]


def test_locked_out_attempts_are_audited_as_such(world, api, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(3):
        api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "x"}, format="json")
    assert [r.detail["reason"] for r in _failed()] == ["invalid_credentials", "locked_out", "locked_out"]


def test_a_flood_writes_at_most_n_rows_per_window_then_one_aggregate(world, api, generous_lockout, clock):
    generous_lockout.AUDIT_AUTH_FAILURE_ROWS = 3
    generous_lockout.AUDIT_AUTH_FAILURE_WINDOW_SECONDS = 600
    for _ in range(10):
        api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "x"}, format="json",
                 REMOTE_ADDR="198.51.100.1")
    assert len(_failed()) == 3
    assert not AuditLog.objects.filter(action="auth.failed.suppressed").exists()
    # A failure of another username from the same address is a different pair: it is written.
    api.post(reverse("api:auth-token"), {"username": "acme-admin", "password": "x"}, format="json",
             REMOTE_ADDR="198.51.100.1")
    assert len(_failed()) == 4

    clock.value += 600  # the next window
    api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "x"}, format="json",
             REMOTE_ADDR="198.51.100.1")
    summary = AuditLog.objects.get(action="auth.failed.suppressed")
    assert summary.outcome == AuditOutcome.DENIED and summary.tenant == world.a.tenant
    assert summary.remote_addr == "198.51.100.1"
    assert summary.detail["scope"] == "username_address" and summary.detail["username"] == "acme-ro"
    assert summary.detail["failures"] == 10 and summary.detail["suppressed"] == 7
    assert summary.detail["window_end"] > summary.detail["window_start"]
    assert len(_failed()) == 5  # and the new window's first failure is written again
    # Reported once only.
    api.post(reverse("api:auth-token"), {"username": "acme-ro", "password": "x"}, format="json",
             REMOTE_ADDR="198.51.100.1")
    assert AuditLog.objects.filter(action="auth.failed.suppressed").count() == 1


def test_a_username_spray_from_one_address_is_capped_too(db, api, generous_lockout, clock):
    generous_lockout.AUDIT_AUTH_FAILURE_ROWS_PER_ADDRESS = 5
    for n in range(12):
        api.post(reverse("api:auth-token"), {"username": f"guess{n}", "password": "x"}, format="json",
                 REMOTE_ADDR="192.0.2.9")
    assert len(_failed()) == 5
    clock.value += 3600
    api.post(reverse("api:auth-token"), {"username": "guess-next", "password": "x"}, format="json",
             REMOTE_ADDR="192.0.2.9")
    summary = AuditLog.objects.get(action="auth.failed.suppressed")
    assert summary.detail["scope"] == "address" and summary.detail["suppressed"] == 7


def test_many_addresses_are_capped_in_all(db, api, generous_lockout, clock):
    generous_lockout.AUDIT_AUTH_FAILURE_ROWS_TOTAL = 4
    for n in range(9):
        api.post(reverse("api:auth-token"), {"username": f"guess{n}", "password": "x"}, format="json",
                 REMOTE_ADDR=f"192.0.2.{n + 1}")
    assert len(_failed()) == 4
    clock.value += 3600
    api.post(reverse("api:auth-token"), {"username": "late", "password": "x"}, format="json",
             REMOTE_ADDR="192.0.2.200")
    summary = AuditLog.objects.get(action="auth.failed.suppressed")
    assert summary.detail["scope"] == "all" and summary.detail["suppressed"] == 5
