"""The portal's journeys in a real browser, against the sandbox vCenter and AWS, a real worker process and the
tenant's connector agent (in a thread; the VM list and the migrate dialog's checks read its inventory):
the administrator fixes the vmimport role, creates an environment, syncs it and grants a user the general role;
the user migrates a VM through the dialog and watches the row finish without a reload, starts the instance and
cancels a second migration; the auditor sees all of it and finds no button that changes anything."""

import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core import services
from core.connectors.models import VCenterInventory
from core.models import AuditLog
from environments.models import Environment, ImportedInstance, Template
from migrations_app.models import MigrationTask
from tests.agents.inprocess import InProcessAgent
from tests.browser.conftest import PASSWORD, acme
from tests.migrations.helpers import Worker, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.browser, pytest.mark.process]


@pytest.fixture
def portal(transactional_db, aws, vcenter, settings, live_server):
    settings.AWS_ENDPOINT_URL = aws.endpoint_url
    settings.MIGRATION_LEASE_SECONDS = 5
    settings.MIGRATION_POLL_SECONDS = 0.3
    settings.MIGRATION_INLINE_WAIT_SECONDS = 5.0
    settings.MIGRATION_TICK_BUDGET_SECONDS = 60
    settings.MIGRATION_PART_SIZE = 5 * 1024 * 1024
    aws.set_speed(300)  # sandbox clock: conversions finish in seconds
    s = acme(vcenter=vcenter)
    s.aws, s.vcenter = aws, vcenter
    s.alice = services.user_create(actor=None, tenant=s.tenant, username="alice", role="user", password=PASSWORD,
                                   vcenter_principal="VSPHERE.LOCAL\\alice")
    s.group = services.group_create(actor=s.admin, name="operators", members=[s.alice])
    aws.register_credentials("AKIAIOSFODNN7EXAMPLE", "sandbox-secret")  # the agent's presigned part URLs use them
    # The tenant's connector: it exports and uploads the disks; its inventory (taken once alice, whose vCenter
    # privileges it reports, exists) is what the VM list shows and what a new migration is checked against.
    s.agent = InProcessAgent(s.tenant, vcenter, s3_ca_bundle=getattr(aws, "ca_bundle", "") or "")
    s.agent.report_inventory()
    from environments import services as env_services

    env_services.region_create(actor=s.admin, code="us-east-1")
    ec2 = aws.client("ec2")
    s.vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=s.vpc_id, CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1a")
    ec2.create_security_group(VpcId=s.vpc_id, GroupName="web", Description="web servers")
    # A template must name an image the tenant's account can see in the region (the portal asks AWS).
    s.image_id = ec2.register_image(Name="web-base", RootDeviceName="/dev/sda1", EnaSupport=True, BlockDeviceMappings=[
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    worker = Worker()
    s.agent.start()
    try:
        yield s
    finally:
        s.agent.stop()
        worker.kill9()  # nothing is left to finish, and a graceful qcluster shutdown takes twenty seconds
        worker.stop()


def _choose(select, text):
    select.select_option(select.locator("option", has_text=text).first.get_attribute("value"))


def _choose_environment(page, dialog, label):
    dialog.get_by_label("Environment").select_option(label=label)
    page.wait_for_function("!document.querySelector('.htmx-request')")  # the lists follow the environment
    dialog.get_by_label("Subnet").locator("option", has_text="10.20.1.0/24").wait_for(state="attached")


def _submitted(dialog, session) -> int:
    try:
        dialog.locator(".task-id, .errorlist, .error-box").first.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        session.page.screenshot(path="var/screenshots/failed-dialog.png")
        raise AssertionError(f"no answer to the migrate dialog: {session.console_errors} {session.requests[-8:]}"
                             ) from None
    assert dialog.locator(".task-id").count() == 1, dialog.inner_text()
    return int(dialog.locator(".task-id").inner_text())


def _progress(page, task_id):
    return page.evaluate("""(id) => {
        const row = document.getElementById('migration-' + id);
        if (!row) return null;
        return {state: row.dataset.state,
                values: Array.from(row.querySelectorAll('progress')).map(p => p.value / p.max)};
    }""", task_id)


# What a reader may press: logging out, closing the dialog, and the GET forms that search, filter or choose.
HARMLESS_BUTTONS = ["Log out", "Filter", "Search", "Show"]


def _changing_controls(page) -> list[str]:
    return page.evaluate("""(harmless) => {
        const forms = Array.from(document.querySelectorAll('form')).filter(
            f => (f.getAttribute('method') || 'get').toLowerCase() !== 'get' && !f.classList.contains('logout'));
        const controls = Array.from(document.querySelectorAll(
            'button, input[type=submit], input[type=button], input[type=reset], [hx-post], [hx-put], [hx-delete]'))
            .filter(c => !c.hasAttribute('data-close-dialog') && !c.closest('form.logout'))
            .map(c => (c.innerText || c.value || c.getAttribute('aria-label') || c.tagName).trim())
            .filter(t => !harmless.includes(t));
        return forms.map(f => 'form ' + (f.getAttribute('action') || '(this page)')).concat(controls);
    }""", HARMLESS_BUTTONS)


def test_admin_user_and_auditor_journeys(portal, open_session):
    s = portal
    started = time.monotonic()

    # --- The administrator: Fix Error, a new environment, sync, grant.
    admin = open_session()
    page = admin.login("admin", PASSWORD)
    assert page.get_by_text("Acme Corp").is_visible() and page.get_by_text("Administrator").is_visible()
    admin.axe("admin-dashboard")
    page.locator("header summary", has_text="Administration").click()  # the header groups the set-up pages
    page.get_by_role("link", name="vmimport role").click()
    assert "missing or incomplete" in page.content()
    page.get_by_text("View Policy").click()
    assert page.get_by_text("vmie.amazonaws.com").first.is_visible()
    admin.axe("admin-fix-error")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_text("Tick the box to agree").is_visible()  # consent first
    page.get_by_label("I agree that the portal may create the above roles on my behalf").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("The vmimport role is ready in us-east-1.").wait_for()
    assert AuditLog.objects.filter(action="vmimport_role.fix", outcome="success").exists()

    page.get_by_role("link", name="Regions & environments").click()
    page.get_by_text("Add an environment").click()
    page.get_by_label("Name", exact=True).fill("production")
    page.get_by_label("VPC id").fill(s.vpc_id)
    admin.axe("admin-regions")
    page.get_by_role("button", name="Create environment").click()
    page.get_by_text("Environment production created").wait_for()
    environment = Environment.objects.get(tenant=s.tenant, name="production")
    page.get_by_role("button", name="Sync from AWS").click()
    page.get_by_text(re.compile(r"Synced from AWS: 1 subnets, \d+ security groups")).wait_for()
    admin.tour("administrator")  # the README tour: an environment, synced
    page.get_by_role("link", name="Permissions", exact=True).click()
    page.get_by_label("User or group").select_option(label="User alice")
    page.get_by_label("Role").select_option(label="General")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Permission saved.").wait_for()
    assert page.locator("table").get_by_text("alice").is_visible()
    admin.axe("admin-permissions")

    # Launch templates: the Templates tab, the new-template form and the launch confirmation.
    page.get_by_role("navigation", name="Environment sections").get_by_role("link", name="Templates").click()
    admin.axe("admin-templates-tab")
    page.get_by_role("button", name="New template").click()  # a link styled as a button
    page.get_by_label("Name", exact=True).fill("web-small")
    page.get_by_label("AMI id").fill(s.image_id)
    page.get_by_label("Instance type").fill("t3.micro")
    page.get_by_label("Subnet").select_option(index=1)
    _choose(page.get_by_label("Security group"), "web")
    admin.axe("admin-template-form")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Template web-small created.").wait_for()
    page.get_by_role("link", name="Launch from a template, recent launches and backups").click()
    admin.axe("admin-launches")
    template = Template.objects.get(environment=environment, name="web-small")
    page.goto(f"/templates/{template.pk}/launch/")
    page.get_by_role("heading", name="Launch an instance from web-small").wait_for()
    admin.axe("admin-template-launch")
    assert not admin.console_errors, admin.console_errors
    admin.logout()

    # --- The user: the VM list, the migrate dialog, the live row, the instance, a cancelled second migration.
    s.vcenter.set_faults(nfc_bytes_per_second=2 * 1024 * 1024)  # slow enough to watch the bars rise
    user = open_session()
    page = user.login("alice", PASSWORD)
    page.get_by_role("link", name="vCenter VMs").click()
    page.get_by_label("Search by name, guest OS or folder").fill("web01")
    page.get_by_role("button", name="Search").click()
    user.axe("user-vms")
    # The list is what the tenant's connector reported: the page says so and how old it is, and Refresh asks the
    # connector for a fresh report, which it sends at its next heartbeat.
    age = page.locator("#inventory-age")
    assert "as the connector in-process reported them" in age.inner_text()
    before = VCenterInventory.objects.get(tenant=s.tenant).taken_at
    page.get_by_role("button", name="Refresh").click()
    wait_for(lambda: VCenterInventory.objects.get(tenant=s.tenant).taken_at > before, timeout=60,
             what="the connector's fresh report")
    page.reload()
    assert "A refresh was asked" not in page.locator("#inventory-age").inner_text()
    page.get_by_label("Search by name, guest OS or folder").fill("web01")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Migrate VM to EC2: web01").click()
    dialog = page.locator("dialog#dialog")
    dialog.wait_for(state="visible")
    _choose_environment(page, dialog, "us-east-1 / production")
    dialog.get_by_label("Operating system").select_option("ubuntu-22.04")
    _choose(dialog.get_by_label("Security group"), "web")
    user.axe("user-migrate-dialog")
    dialog.get_by_role("button", name="Migrate").click()
    task_id = _submitted(dialog, user)
    assert "task ID" in dialog.inner_text()
    page.keyboard.press("Escape")

    page.goto(f"/environments/{environment.pk}/tabs/vm-to-ec2-migrations/")
    page.evaluate("window.__notReloaded = true")
    seen_states, seen_progress = [], []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = _progress(page, task_id)
        if row:
            if not seen_states or seen_states[-1] != row["state"]:
                seen_states.append(row["state"])
            seen_progress.append(sum(row["values"]))
            if row["state"] in ("completed", "failed", "cancelled"):
                break
        time.sleep(0.5)
    assert seen_states[-1] == "completed", (seen_states, MigrationTask.objects.get(pk=task_id).status_message)
    assert set(seen_states) & {"queued", "exporting", "uploading"}, seen_states
    rising = sorted(set(seen_progress))
    assert len(rising) >= 3 and seen_progress == sorted(seen_progress), seen_progress
    assert page.evaluate("window.__notReloaded") is True  # the table updated itself, the page never reloaded
    page.locator('#migration-rows[data-polling="off"]').wait_for()  # and stopped polling
    user.tour("user")  # the README tour: the migration done, live to the end

    instance = ImportedInstance.objects.get(tenant=s.tenant, environment=environment)
    page.locator(f"#migration-{task_id}").get_by_role("link", name=instance.instance_id).click()
    page.get_by_role("heading", name="Getting Started").wait_for()
    user.axe("user-instance")
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(f"Start sent to {instance.instance_id}: now (pending|running)")).wait_for()

    s.vcenter.set_faults(lease_init_seconds=10)  # the second export stays preparing: time to cancel
    page.goto("/vms/")
    page.get_by_role("button", name="Migrate VM to EC2: db01").click()
    dialog.wait_for(state="visible")
    _choose_environment(page, dialog, "us-east-1 / production")
    # rhel7_64Guest names no supported release, so nothing is pre-filled: the user chooses
    dialog.get_by_label("Operating system").select_option("rhel-8")
    _choose(dialog.get_by_label("Security group"), "web")
    dialog.get_by_role("button", name="Migrate").click()
    second = _submitted(dialog, user)
    page.goto(f"/environments/{environment.pk}/tabs/vm-to-ec2-migrations/")
    page.locator(f"#cancel-{second}").click()
    page.get_by_role("heading", name=re.compile(f"Cancel migration {second}")).wait_for()
    user.axe("user-cancel-confirm")
    assert not MigrationTask.objects.get(pk=second).is_terminal  # asking changed nothing
    page.get_by_role("button", name=f"Yes, cancel migration {second}").click()
    page.get_by_text(re.compile(f"Migration {second} of db01: (Cancelling|Cancelled)")).wait_for()
    wait_for(lambda: MigrationTask.objects.get(pk=second).state == "cancelled", timeout=60, what="the cancel")
    s.vcenter.clear_faults()
    assert not user.console_errors, user.console_errors
    user.logout()

    # --- The auditor: every page, no button that changes anything.
    auditor = open_session()
    page = auditor.login("audrey", PASSWORD)
    assert page.get_by_text("Auditor").first.is_visible()
    pages = {
        "auditor-dashboard": "/",
        "auditor-environment": f"/environments/{environment.pk}/",
        "auditor-migrations": f"/environments/{environment.pk}/tabs/vm-to-ec2-migrations/",
        "auditor-instances": f"/environments/{environment.pk}/instances/",
        "auditor-permissions": f"/environments/{environment.pk}/permissions/",
        "auditor-instance": f"/instances/{instance.pk}/",
        "auditor-regions": "/regions/",
        "auditor-vmimport-role": "/vmimport-role/",
        "auditor-vms": "/vms/",
        "auditor-audit-log": "/audit-log/?action=migration.*",
        "auditor-templates": f"/environments/{environment.pk}/templates/",
        "auditor-users": "/users/",
        "auditor-user": f"/users/{s.alice.pk}/",
        "auditor-group": f"/groups/{s.group.pk}/",
        "auditor-settings": "/settings/",
    }
    for name, url in pages.items():
        page.goto(url)
        changing = page.locator("form[method=post] button, form[method=post] input[type=submit]")
        assert changing.count() == 1, (name, changing.all_inner_texts())  # only "Log out"
        assert not _changing_controls(page), (name, _changing_controls(page))
        assert page.locator("a", has_text=re.compile("^(Cancel|Delete|Migrate|Edit|New |Add )")).count() == 0, name
        auditor.axe(name)
    # The administrators' pages are in the auditor's menu, read-only, and no secret is on them.
    page.goto("/")
    page.locator("header summary", has_text="Administration").click()
    page.get_by_role("link", name="Users & groups").click()
    assert page.get_by_role("cell", name="alice").first.is_visible()
    page.locator("header summary", has_text="Administration").click()
    page.get_by_role("link", name="Settings", exact=True).click()
    assert page.get_by_text("set (not shown)").first.is_visible()
    assert "sandbox-secret" not in page.content() and s.vcenter.password not in page.content()
    page.goto("/audit-log/?action=migration.*")
    assert page.get_by_role("cell", name="migration.create").count() == 2
    assert page.get_by_role("cell", name="migration.cancel").count() >= 1
    auditor.tour("auditor")  # the README tour: the audit log
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    with open(download.value.path()) as exported:
        assert "migration.create" in exported.read()
    assert not auditor.console_errors, auditor.console_errors
    # A page that changes something, opened by its address anyway: refused with the reason, not "not found".
    refused = page.goto(f"/environments/{environment.pk}/edit/")
    assert refused.status == 403
    assert page.get_by_role("heading", name="You may not do that").is_visible()
    assert page.get_by_role("alert").get_by_text("Your role does not allow this.").is_visible()
    auditor.axe("auditor-refused")

    # --- Phone width: the same shell, readable.
    phone = open_session(width=390, height=844)
    page = phone.login("alice", PASSWORD)
    page.goto(f"/environments/{environment.pk}/tabs/vm-to-ec2-migrations/")
    phone.axe("phone-migrations-tab")
    assert time.monotonic() - started < 240
