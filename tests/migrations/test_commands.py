"""The management command does what the API does, through the same services."""

import pytest
from django.core.management import CommandError, call_command

from migrations_app.models import MigrationTask

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def test_list_vms_start_show_and_cancel(setup, capsys):
    s = setup
    call_command("vm_migration", "vms", "--user", "alice")
    assert "web01" in capsys.readouterr().out
    call_command("vm_migration", "start", "--user", "alice", "--environment", str(s.environment.pk), "--vm",
                 s.vms["web01"].moref, "--os", "ubuntu-22.04", "--instance-type", "t2.micro", "--subnet",
                 str(s.subnet.pk), "--security-group", str(s.security_group.pk))
    task = MigrationTask.objects.get()
    assert f"migration {task.pk}: exporting" in capsys.readouterr().out
    call_command("vm_migration", "cancel", "--user", "alice", str(task.pk))
    assert "cancelling" in capsys.readouterr().out
    call_command("vm_migration", "list", "--user", "alice")
    assert "web01" in capsys.readouterr().out


def test_refusals_are_command_errors(setup):
    s = setup
    with pytest.raises(CommandError, match="VApp.Export"):
        call_command("vm_migration", "start", "--user", "bob", "--environment", str(s.environment.pk), "--vm",
                     s.vms["web01"].moref, "--os", "ubuntu-22.04", "--instance-type", "t2.micro", "--subnet",
                     str(s.subnet.pk), "--security-group", str(s.security_group.pk))
    with pytest.raises(CommandError, match="No migration"):
        call_command("vm_migration", "show", "--user", "alice", "999")
