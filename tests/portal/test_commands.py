import pytest
from django.core.management import CommandError, call_command

from core.models import Tenant, User


def test_create_tenant_and_user_commands(db, capsys):
    call_command("create_tenant", "Initech", "--slug", "initech")
    call_command("create_user", "peter", "--tenant", "initech", "--role", "admin", "--password", "tps-reports-42",
                 "--vcenter-principal", "VSPHERE.LOCAL\\peter")
    user = User.objects.get(username="peter")
    assert user.tenant == Tenant.objects.get(slug="initech") and user.role == "admin" and not user.is_superuser
    assert user.check_password("tps-reports-42")
    assert "Created admin peter" in capsys.readouterr().out


def test_commands_report_bad_input_clearly(db):
    call_command("create_tenant", "Initech", "--slug", "initech")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_tenant", "Initech", "--slug", "initech")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("create_user", "x", "--tenant", "nope", "--role", "user")
    with pytest.raises(CommandError, match="DOMAIN"):
        call_command("create_user", "x", "--tenant", "initech", "--role", "user", "--vcenter-principal", "bad one")


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo")
    call_command("seed_demo")
    assert set(User.objects.values_list("username", flat=True)) == {"demo-admin", "demo-user", "demo-auditor"}


def test_superusers_cannot_be_tenant_members(db):
    from django.db import IntegrityError

    tenant = Tenant.objects.create(name="T", slug="t")
    with pytest.raises(IntegrityError):
        User.objects.create(username="root-admin", is_superuser=True, tenant=tenant, role="admin")
