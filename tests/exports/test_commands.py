"""`manage.py instance_export` acts as a named administrator through the same services."""

import pytest
from django.core.management import CommandError, call_command

from exports.choices import ExportState
from exports.models import ExportSettings, ExportTask

pytestmark = pytest.mark.aws


def _run(*args):
    from io import StringIO

    out = StringIO()
    call_command("instance_export", *args, stdout=out)
    return out.getvalue()


def test_configure_start_list_show_cancel(ex):
    admin = ex.admin.username
    preview = _run("configure", "--user", admin, "--name", "world-acme")
    assert ex.bucket in preview and "Nothing created" in preview and "READ_ACP" in preview
    assert "created" in _run("configure", "--user", admin, "--name", "world-acme", "--consent")

    started = _run("start", "--user", admin, "--instance", str(ex.instance.pk), "--prefix", "vms/")
    task = ExportTask.objects.get(ec2_instance_id=ex.instance.instance_id, state=ExportState.EXPORTING)
    assert f"export {task.pk} of {ex.instance.instance_id}: exporting" in started
    assert str(task.pk) in _run("list", "--user", admin, "--state", "exporting")
    assert "exporting" in _run("show", "--user", ex.a.auditor.username, str(task.pk))

    with pytest.raises(CommandError, match="Confirm"):
        _run("cancel", "--user", admin, str(task.pk))
    assert "cancelling" in _run("cancel", "--user", admin, str(task.pk), "--confirm")


def test_refusals_are_one_line_errors(ex):
    with pytest.raises(CommandError, match="given once"):
        _run("configure", "--user", ex.admin.username, "--name", "other", "--consent")
    with pytest.raises(CommandError, match="Only administrators"):
        _run("configure", "--user", ex.a.user_owner.username, "--name", "world-acme")
    with pytest.raises(CommandError, match=f"No instance {ex.instance.pk}"):
        _run("start", "--user", ex.a.auditor.username, "--instance", str(ex.instance.pk))
    with pytest.raises(CommandError, match="No export"):
        _run("cancel", "--user", ex.a.auditor.username, str(ex.a.export.pk), "--confirm")
    assert ExportSettings.objects.get(tenant=ex.a.tenant).name == "world-acme"
