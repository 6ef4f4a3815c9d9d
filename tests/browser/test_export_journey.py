"""The export journey in a real browser, against the sandbox AWS and a real worker process: the administrator
configures instance export, starts an export with the Export to S3 button of the instance page, watches the
EC2-to-S3 tab's row move through AWS's phases without a reload, then opens the cancel confirmation of another
export, answers "No, keep it running" (back to the tab) and then "Yes, cancel export N" (cancelled, back to the tab).
The auditor reads the tab without a button; on a phone the pages fit.

The sandbox clock stands still: the test moves it, so each phase is reached when the test says and the tab is
waited on to show it (no timed assertion)."""

import re

import pytest

from environments.models import Environment, ImportedInstance
from exports import services as export_services
from exports.models import ExportTask
from tests.browser.conftest import PASSWORD, acme
from tests.migrations.helpers import Worker, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.browser, pytest.mark.process]


@pytest.fixture
def portal(transactional_db, aws, settings, live_server):
    from environments import services as env_services
    from sandbox.aws.testing import imported_instances

    settings.AWS_ENDPOINT_URL = aws.endpoint_url
    settings.EXPORT_LEASE_SECONDS = 5
    settings.EXPORT_POLL_SECONDS = 0.2
    settings.EXPORT_TICK_BUDGET_SECONDS = 30
    aws.set_speed(0)  # the test moves the clock: each export phase comes when the test asks for it
    s = acme()
    s.aws = aws
    env_services.region_create(actor=s.admin, code="us-east-1")
    s.environment = Environment.objects.get(tenant=s.tenant, region__code="us-east-1")
    s.instances = [ImportedInstance.objects.create(tenant=s.tenant, environment=s.environment, instance_id=i,
                                                   source_vm_name=f"web0{n}")
                   for n, i in enumerate(imported_instances(aws, count=2), start=1)]
    worker = Worker(EXPORT_LEASE_SECONDS=settings.EXPORT_LEASE_SECONDS,
                    EXPORT_POLL_SECONDS=settings.EXPORT_POLL_SECONDS,
                    EXPORT_TICK_BUDGET_SECONDS=settings.EXPORT_TICK_BUDGET_SECONDS)
    try:
        yield s
    finally:
        worker.kill9()  # nothing is left to finish, and a graceful qcluster shutdown takes twenty seconds
        worker.stop()


def _row(page, export_id):
    return page.locator(f"#export-{export_id}")


def _wait_progress(page, export_id, at_least):
    """Until the tab's row shows the export at `at_least` percent (the rows refresh themselves)."""
    page.wait_for_function("""([id, least]) => {
        const bar = document.querySelector('#export-' + id + ' progress');
        return bar && bar.value >= least;
    }""", arg=[export_id, at_least], timeout=60_000)
    return page.evaluate("(id) => document.querySelector('#export-' + id + ' progress').value", export_id)


def test_admin_configures_exports_watches_one_and_cancels_another(portal, open_session):
    s = portal
    first, second = s.instances
    tab_path = f"/environments/{s.environment.pk}/tabs/ec2-to-s3-migrations/"

    admin = open_session()
    page = admin.login("admin", PASSWORD)

    # Not configured yet: the tab says so, with the way to do it.
    page.goto(tab_path)
    page.get_by_role("alert").get_by_text("Instance export is not configured yet").wait_for()
    admin.axe("export-tab-unconfigured")
    page.get_by_role("link", name="Configure instance export").click()
    page.get_by_role("heading", name="Configure instance export").wait_for()
    page.get_by_label("Export name").fill("acme")
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("export-to-s3-acme-us-east-1").first.wait_for()
    admin.axe("export-configure-preview")
    page.get_by_role("button", name="Create the buckets").click()
    refusal = page.locator(".errorlist").filter(has_text="Tick")
    refusal.wait_for()  # consent first, told beside the box to tick
    assert refusal.count() == 1
    admin.axe("export-configure-consent-refused")
    page.get_by_label("I agree that the portal may create these buckets on my behalf").check()
    page.get_by_role("button", name="Create the buckets").click()
    page.get_by_text("Instance export is configured: the buckets of acme are ready.").wait_for()
    admin.axe("export-configure-done")

    # The instance page: the export is a button beside the summary, not a row of it.
    page.goto(f"/instances/{first.pk}/")
    button = page.get_by_role("button", name="Export to S3")
    assert button.count() == 1
    assert page.locator("table").get_by_text("Export to S3", exact=True).count() == 0
    admin.axe("export-instance-page")
    button.click()
    page.get_by_role("heading", name=f"Export {first.instance_id} to S3").wait_for()
    admin.axe("export-start")
    page.get_by_label("S3 object prefix").fill("vms/")
    page.get_by_role("button", name="Start export").click()
    page.wait_for_url(f"**{tab_path}")
    task = ExportTask.objects.get(ec2_instance_id=first.instance_id)
    page.get_by_text(re.compile(f"Export {task.pk} of {first.instance_id}: (Queued|Exporting)")).wait_for()

    # The tab follows the export through AWS's phases by itself.
    page.evaluate("window.__notReloaded = true")
    assert page.locator('#export-rows[data-polling="on"]').count() == 1
    seen = [_wait_progress(page, task.pk, 5)]  # the worker has asked AWS: pending
    admin.axe("export-tab-live")
    for seconds, percent in ((10, 30), (25, 60), (17, 90)):  # converting, uploading, finalizing
        s.aws.advance(seconds)
        seen.append(_wait_progress(page, task.pk, percent))
    s.aws.advance(s.aws.settings()["cleanup_duration"] + 15)
    page.locator(f'#export-{task.pk}[data-state="completed"]').wait_for(timeout=60_000)
    page.locator('#export-rows[data-polling="off"]').wait_for()  # nothing live: it stopped polling
    assert seen == sorted(seen) and len(set(seen)) >= 4, seen
    assert _wait_progress(page, task.pk, 100) == 100
    assert page.evaluate("window.__notReloaded") is True  # the rows updated themselves, the page never reloaded
    assert _row(page, task.pk).get_by_role("link", name=f"Download export {task.pk}").count() == 1
    admin.axe("export-tab-completed")

    # Another export, cancelled from the tab: "No" keeps it and goes back, "Yes" cancels and goes back.
    other = export_services.export_create(actor=s.admin, instance=second, s3_prefix="")
    page.reload()
    page.get_by_role("link", name=f"Cancel export {other.pk}").click()
    page.get_by_role("heading", name=f"Cancel export {other.pk} of {second.instance_id}?").wait_for()
    yes = page.get_by_role("button", name=f"Yes, cancel export {other.pk}")
    no = page.get_by_role("button", name="No, keep it running")  # a link styled as a button
    assert yes.count() == 1 and no.count() == 1
    admin.axe("export-cancel-confirm")
    no.click()
    page.wait_for_url(f"**{tab_path}")
    page.get_by_role("heading", name="EC2-to-S3 Migrations").wait_for()
    assert not ExportTask.objects.get(pk=other.pk).is_terminal  # asking and answering No changed nothing
    admin.axe("export-tab-after-no")

    page.get_by_role("link", name=f"Cancel export {other.pk}").click()
    page.get_by_role("button", name=f"Yes, cancel export {other.pk}").click()
    page.wait_for_url(f"**{tab_path}")
    page.get_by_text(re.compile(f"Export {other.pk}: (Cancelling|Cancelled)")).wait_for()
    admin.axe("export-tab-after-yes")
    page.evaluate("window.__notReloaded = true")
    s.aws.advance(s.aws.settings()["cleanup_duration"] + 5)  # AWS finishes stopping the export
    wait_for(lambda: ExportTask.objects.get(pk=other.pk).state == "cancelled", timeout=60, what="the cancel")
    page.locator(f'#export-{other.pk}[data-state="cancelled"]').wait_for(timeout=60_000)
    page.locator('#export-rows[data-polling="off"]').wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert not admin.console_errors, admin.console_errors

    # The auditor reads the same tab with no way to change anything.
    auditor = open_session()
    page = auditor.login("audrey", PASSWORD)
    page.goto(tab_path)
    page.locator(f"#export-{task.pk}").wait_for()
    assert page.locator("#export-rows a", has_text=re.compile("^(Cancel|Download)")).count() == 0
    assert page.get_by_text("Export an instance to S3").count() == 0
    auditor.axe("auditor-export-tab")
    page.goto(f"/instances/{first.pk}/")
    assert page.get_by_role("button", name="Export to S3").count() == 0
    auditor.axe("auditor-export-instance")
    assert not auditor.console_errors, auditor.console_errors

    # The same tab on a phone.
    phone = open_session(width=390, height=844)
    page = phone.login("admin", PASSWORD)
    page.goto(tab_path)
    phone.axe("phone-export-tab")
    page.goto(f"/instances/{first.pk}/")
    phone.axe("phone-export-instance")
