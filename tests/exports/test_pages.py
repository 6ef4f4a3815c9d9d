"""The export pages drive the same services as the API: configure with preview and consent, export an instance,
the EC2-to-S3 Migrations tab with its live rows, and Cancel Export Task's "Yes, cancel export N" / "No, keep it
running" step, which returns to the tab the user came from."""

import pytest
from django.test import Client
from django.urls import reverse

from exports.choices import ExportState
from exports.models import ExportBucket, ExportSettings, ExportTask
from tests.exports.conftest import drive

pytestmark = pytest.mark.aws


def _browser(user, csrf=False):
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def _tab(ex, user):
    return _browser(user).get(reverse("ui:environment-panel", args=[ex.a.environment.pk, "ec2-to-s3-migrations"]))


def test_configure_page_previews_then_needs_consent(world, aws, aws_tenant_account):
    a = world.a
    aws_tenant_account(a.tenant)
    ExportBucket.objects.filter(tenant=a.tenant).delete()
    ExportSettings.objects.filter(tenant=a.tenant).delete()
    browser = _browser(a.admin)
    url = reverse("ui:export-configure")
    page = browser.get(url).content.decode()
    assert "I agree that the portal may create these buckets on my behalf" in page
    preview = browser.post(url, {"name": "acme", "action": "preview"}).content.decode()
    assert "export-to-s3-acme-us-east-1" in preview and "to be created" in preview
    assert "c4d8eabf8db69dbe46bfe0e517100c554f01200b104d59cd408e777ba442a322" in preview
    assert not ExportSettings.objects.filter(tenant=a.tenant).exists()
    refused = browser.post(url, {"name": "acme", "action": "apply"})
    assert refused.status_code == 200 and "Tick" in refused.content.decode()
    assert not ExportSettings.objects.filter(tenant=a.tenant).exists()
    done = browser.post(url, {"name": "acme", "action": "apply", "consent": "on"})
    assert done.status_code == 302
    assert ExportSettings.objects.get(tenant=a.tenant).name == "acme"
    assert "export-to-s3-acme-us-east-1" in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    bad = browser.post(url, {"name": "Not Legal", "action": "preview"}).content.decode()
    assert "lowercase letters" in bad


def test_auditors_read_the_configure_page_without_its_buttons(world, aws, aws_tenant_account):
    """Issue 20: the auditor sees what the administrator configured, with no button, and a post is a 403."""
    a = world.a
    aws_tenant_account(a.tenant)
    page = _browser(a.auditor).get(reverse("ui:export-configure"))
    assert page.status_code == 200
    text = page.content.decode()
    assert a.export_settings.name in text
    assert "Create the buckets" not in text and "Preview</button>" not in text and "consent" not in text
    refused = _browser(a.auditor).post(reverse("ui:export-configure"), {"name": "other", "action": "apply",
                                                                        "consent": "on"})
    assert refused.status_code == 403
    assert ExportSettings.objects.get(tenant=a.tenant).name == a.export_settings.name


def test_pages_are_for_administrators(world):
    """Other roles may never export (403 before any lookup, as from the API); another tenant's rows are 404."""
    a = world.a
    assert _browser(a.user_owner).get(reverse("ui:export-configure")).status_code == 403
    for user in (a.user_owner, a.auditor):
        browser = _browser(user)
        assert browser.get(reverse("ui:export-start", args=[a.instance.pk])).status_code == 403
        assert browser.post(reverse("ui:export-start", args=[a.instance.pk]), {"s3_prefix": "x/"}).status_code == 403
        assert browser.get(reverse("ui:export-cancel", args=[a.export.pk])).status_code == 403
        assert browser.post(reverse("ui:export-cancel", args=[a.export.pk]), {"confirm": "on"}).status_code == 403
        assert browser.get(reverse("ui:export-download", args=[a.export.pk])).status_code == 403
    assert ExportTask.objects.filter(tenant=a.tenant).count() == 1
    assert _browser(world.b.admin).get(reverse("ui:export-start", args=[a.instance.pk])).status_code == 404


def test_the_tab_for_admins_auditors_and_not_users(ex):
    page = _tab(ex, ex.admin).content.decode()
    assert "EC2-to-S3 Migrations" in page and "export-i-0123456789abcdef0" in page
    assert f"s3://{ex.a.export.s3_bucket}/{ex.a.export.s3_key}" in page
    assert reverse("ui:export-download", args=[ex.a.export.pk]) in page
    assert reverse("ui:export-start", args=[ex.instance.pk]) in page
    audited = _tab(ex, ex.a.auditor).content.decode()
    assert "export-i-0123456789abcdef0" in audited and "Download" not in audited
    assert reverse("ui:export-cancel", args=[ex.a.export.pk]) not in audited
    # Users may never read exports: the tab refuses them (403), as the API's export list does, and is not offered.
    assert _tab(ex, ex.a.user_owner).status_code == 403
    tab_url = reverse("ui:environment-panel", args=[ex.a.environment.pk, "ec2-to-s3-migrations"])
    environment_page = _browser(ex.a.user_owner).get(reverse("ui:environment", args=[ex.a.environment.pk]))
    assert environment_page.status_code == 200 and tab_url not in environment_page.content.decode()
    assert tab_url in _browser(ex.admin).get(reverse("ui:environment", args=[ex.a.environment.pk])).content.decode()


def test_export_from_the_form_then_cancel_with_yes(ex):
    browser = _browser(ex.admin, csrf=False)
    start = reverse("ui:export-start", args=[ex.instance.pk])
    assert ex.bucket in browser.get(start).content.decode()
    response = browser.post(start, {"s3_prefix": "vms/"})
    assert response.status_code == 302
    task = ExportTask.objects.get(ec2_instance_id=ex.instance.instance_id, state=ExportState.EXPORTING)
    assert task.created_by == ex.admin
    drive(task.pk)
    task.refresh_from_db()
    tab = _tab(ex, ex.admin).content.decode()
    cancel = reverse("ui:export-cancel", args=[task.pk])
    assert task.export_task_id in tab and cancel in tab
    again = browser.post(start, {"s3_prefix": "vms/"}).content.decode()
    assert "already being exported" in again and f"export {task.pk}" in again

    step = browser.get(cancel).content.decode()
    tab_url = reverse("ui:environment-panel", args=[ex.a.environment.pk, "ec2-to-s3-migrations"])
    assert f"Yes, cancel export {task.pk}" in step and "No, keep it running" in step
    assert f'href="{tab_url}"' in step  # without a `next`, "No" goes back to the tab, not the environment summary
    assert ExportTask.objects.get(pk=task.pk).state == ExportState.EXPORTING  # asking is not cancelling
    unconfirmed = browser.post(cancel, {})
    assert unconfirmed.status_code == 200 and "Confirm" in unconfirmed.content.decode()
    assert 'role="alert"' in unconfirmed.content.decode()
    done = browser.post(cancel, {"confirm": "True"})
    assert done.status_code == 302 and done["Location"] == tab_url
    assert ExportTask.objects.get(pk=task.pk).state == ExportState.CANCELLING


def test_download_redirects_to_a_fresh_link(ex):
    task = ex.a.export
    response = _browser(ex.admin).get(reverse("ui:export-download", args=[task.pk]))
    assert response.status_code == 302 and "X-Amz-Signature=" in response["Location"]
    assert task.s3_bucket in response["Location"] and task.s3_key in response["Location"]


def test_the_instance_page_shows_its_export_and_the_way_to_start_one(world):
    a = world.a
    url = reverse("ui:instance", args=[a.instance.pk])
    page = _browser(a.admin).get(url).content.decode()
    assert "export-i-0123456789abcdef0" in page and reverse("ui:export-start", args=[a.instance.pk]) in page
    # The action is a button beside the summary, not a row of it.
    assert f'<a role="button" href="{reverse("ui:export-start", args=[a.instance.pk])}?next=' in page
    assert '<th scope="row">Export</th>' not in page
    audited = _browser(a.auditor).get(url).content.decode()
    assert "export-i-0123456789abcdef0" in audited and reverse("ui:export-start", args=[a.instance.pk]) not in audited
    assert "export-i-0123456789abcdef0" not in _browser(a.user_owner).get(url).content.decode()
