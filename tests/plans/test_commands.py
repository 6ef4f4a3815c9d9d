"""The plan command does what the API does, through the same services."""

import pytest
from django.core.management import CommandError, call_command

from migrations_app.plans.models import MigrationPlan, PlanRun

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def test_create_import_validate_start_show_cancel(setup, capsys, tmp_path):
    s = setup
    call_command("migration_plan", "create", "--user", "alice", "--environment", str(s.environment.pk), "--name",
                 "cli", "--subnet", str(s.subnet.pk), "--security-group", str(s.security_group.pk))
    plan = MigrationPlan.objects.get(name="cli")
    assert f"plan {plan.pk}: cli" in capsys.readouterr().out
    csv_file = tmp_path / "plan.csv"
    csv_file.write_text("vm,wave,instance_type\nweb01,1,t2.micro\nlab-rdm01,zero,t2.micro\n")
    with pytest.raises(CommandError, match="line 3, field wave"):
        call_command("migration_plan", "import", "--user", "alice", str(plan.pk), str(csv_file))
    assert not plan.vms.exists()
    csv_file.write_text("vm,wave,instance_type\nweb01,1,t2.micro\n")
    call_command("migration_plan", "import", "--user", "alice", str(plan.pk), str(csv_file))
    assert "1 VMs imported" in capsys.readouterr().out
    call_command("migration_plan", "validate", "--user", "alice", str(plan.pk))
    assert "All 1 VMs can be migrated." in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("migration_plan", "validate", "--user", "bob", str(plan.pk))  # bob lacks VApp.Export
    s.tenant.time_zone = "Europe/Berlin"
    s.tenant.save()
    call_command("migration_plan", "wave", "--user", "alice", str(plan.pk), "2", "--at", "2099-07-01T02:00")
    assert "wave 2 starts 2099-07-01 02:00 CEST (UTC+02:00)" in capsys.readouterr().out
    s.tenant.time_zone = "UTC"
    s.tenant.save()
    call_command("migration_plan", "start", "--user", "alice", str(plan.pk), "--at", "2099-01-01T06:00")
    assert "waiting, starts 2099-01-01 06:00 UTC (UTC+00:00)" in capsys.readouterr().out
    call_command("migration_plan", "show", "--user", "alice", str(plan.pk))
    assert "scheduled" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Only the user who created the plan"):
        call_command("migration_plan", "cancel", "--user", "bob", str(plan.pk))
    call_command("migration_plan", "cancel", "--user", "alice", str(plan.pk))
    assert "cancelled" in capsys.readouterr().out
    assert PlanRun.objects.get().state == "cancelled"
    call_command("migration_plan", "export", "--user", "alice", str(plan.pk))
    assert capsys.readouterr().out.startswith("vm,wave,")
