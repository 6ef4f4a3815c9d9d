"""`launch_templates` does what the Templates tab does, through the same services and rules."""

import pytest
from django.core.management import CommandError, call_command

from environments.models import Template


def test_an_owner_creates_lists_and_deletes_templates(world, capsys, sandbox_image):
    a = world.a
    call_command("launch_templates", "create", "--user", a.user_owner.username, "--environment",
                 str(a.environment.pk), "--name", "batch", "--ami", sandbox_image, "--instance-type",
                 "t3.small", "--subnet", str(a.subnet.pk), "--security-group", str(a.security_group.pk))
    template = Template.objects.get(environment=a.environment, name="batch")
    assert f"template {template.pk} batch created" in capsys.readouterr().out
    call_command("launch_templates", "list", "--user", a.user_ro.username)
    assert "batch" in capsys.readouterr().out
    call_command("launch_templates", "delete", "--user", a.user_owner.username, str(template.pk))
    assert not Template.objects.filter(pk=template.pk).exists()


def test_refusals_are_command_errors(world):
    a = world.a
    with pytest.raises(CommandError, match="you may manage"):
        call_command("launch_templates", "delete", "--user", a.user_general.username, str(a.template.pk))
    with pytest.raises(CommandError, match="An AMI id looks like"):
        call_command("launch_templates", "create", "--user", a.user_owner.username, "--environment",
                     str(a.environment.pk), "--name", "x", "--ami", "nope", "--instance-type", "t3.small",
                     "--subnet", str(a.subnet.pk), "--security-group", str(a.security_group.pk))
    with pytest.raises(CommandError, match="already exists"):
        call_command("launch_templates", "create", "--user", a.user_owner.username, "--environment",
                     str(a.environment.pk), "--name", a.template.name, "--ami", "ami-0123456789abcdef0",
                     "--instance-type", "t3.small", "--subnet", str(a.subnet.pk), "--security-group",
                     str(a.security_group.pk))
    assert Template.objects.filter(pk=a.template.pk).exists()
