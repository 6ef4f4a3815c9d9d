"""What a first-time user trips over in the forms, in a real browser against the sandbox vCenter and AWS: the
migrate dialog shows it is working and a late answer never overwrites newer input, the dialog pre-fills from the
VM, the VM list says before the click what cannot be migrated, grants have their own Revoke and role change, and
the Templates tab launches in one click. Every page is checked with axe and at 390 px."""

import re

import pytest
from playwright.sync_api import expect

from environments import services as env_services
from environments.choices import EnvironmentRole
from environments.models import Region, SecurityGroup, Subnet
from environments.selectors import environment_grants
from tests.browser.test_journeys import PASSWORD, portal  # noqa: F401  (the fixture)
from tests.migrations.helpers import wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.browser, pytest.mark.process]


@pytest.fixture
def production(portal):  # noqa: F811
    """The journeys' tenant with its environment made, synced and granted to alice, a template, and the vmimport
    role: what test_journeys makes through the pages, made here through the services."""
    s = portal
    s.aws.create_vmimport_role()
    region = Region.objects.get(tenant=s.tenant, code="us-east-1")
    s.environment = env_services.environment_create(actor=s.admin, region=region, name="production",
                                                    vpc_id=s.vpc_id)
    env_services.environment_sync(actor=s.admin, environment=s.environment)
    env_services.environment_grant(actor=s.admin, environment=s.environment, principal=s.alice,
                                   role=EnvironmentRole.GENERAL)
    s.template = env_services.template_create(actor=s.admin, environment=s.environment, data={
        "name": "web-small", "ami_id": s.image_id, "instance_type": "t2.micro",
        "subnet": Subnet.objects.get(environment=s.environment),
        "security_group": SecurityGroup.objects.get(environment=s.environment, name="web")})
    return s


def _open_dialog(page, vm_name):
    page.goto(f"/vms/?q={vm_name}")
    page.get_by_role("button", name=f"Migrate VM to EC2: {vm_name}").click()
    dialog = page.locator("dialog#dialog")
    dialog.wait_for(state="visible")
    dialog.get_by_label("Environment").select_option(label="us-east-1 / production")
    dialog.get_by_label("Subnet").locator("option", has_text="10.20.1.0/24").wait_for(state="attached")
    return dialog


def test_the_migrate_dialog_shows_it_is_working_and_keeps_newer_input(production, open_session):
    s = production
    user = open_session()
    page = user.login("alice", PASSWORD)
    dialog = _open_dialog(page, "web01")
    user.axe("forms-migrate-dialog")

    # Pre-filled from the Ubuntu VM (2 vCPU, 2 GiB): the OS, a suggested type that says it is one, and the
    # environment's only non-default security group rather than "default".
    expect(dialog.get_by_label("Operating system")).to_have_value("ubuntu-22.04")
    expect(dialog.get_by_text("Pre-filled from the VM's guest OS, Ubuntu Linux (64-bit)")).to_be_visible()
    expect(dialog.get_by_label("Instance type")).to_have_value("t2.medium")
    expect(dialog.get_by_text(re.compile(r"Suggested for the VM's 2 vCPU and 2 GiB: t2\.medium .* only a "
                                         r"suggestion"))).to_be_visible()
    web = SecurityGroup.objects.get(environment=s.environment, name="web")
    expect(dialog.get_by_label("Security group")).to_have_value(str(web.pk))

    # The pre-flight answer is held back: Migrate is disabled and busy until it arrives.
    held = []
    page.route("**/migrate/", lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    dialog.get_by_label("Private IP (optional)").fill("10.9.9.9")  # outside the subnet: refused
    migrate = dialog.get_by_role("button", name="Migrate", exact=True)
    migrate.click()
    expect(migrate).to_be_disabled()
    expect(migrate).to_have_attribute("aria-busy", "true")
    expect(dialog.get_by_role("status")).to_contain_text("Working")
    user.axe("forms-migrate-dialog-pending")
    assert len(held) == 1

    # The user corrects the address while waiting; the late answer (about 10.9.9.9) must not bring it back.
    dialog.get_by_label("Private IP (optional)").fill("10.20.1.50")
    held[0].continue_()
    # The held request's pre-flight reads vCenter and AWS only now: under a loaded CI machine that may take longer
    # than expect's 5 s default.
    expect(dialog.get_by_role("status")).to_contain_text("You changed the form", timeout=30_000)
    expect(dialog.get_by_label("Private IP (optional)")).to_have_value("10.20.1.50")
    expect(migrate).to_be_enabled()
    assert dialog.locator(".errorlist").count() == 0
    page.unroute("**/migrate/")
    assert not [e for e in user.console_errors if "migrate" not in e], user.console_errors


def test_the_vm_list_says_what_cannot_be_migrated_and_names_guest_os_readably(production, open_session):
    user = open_session()
    page = user.login("alice", PASSWORD)
    page.goto("/vms/")
    rdm = page.locator('tr[data-vm="lab-rdm01"]')
    expect(rdm).to_contain_text("Cannot be migrated:")
    expect(rdm).to_contain_text("raw device mapping")
    button = rdm.get_by_role("button", name="Migrate VM to EC2: lab-rdm01")
    expect(button).to_be_disabled()
    expect(button).to_have_accessible_description(re.compile("raw device mapping"))
    # alice holds no export privilege outside Production (the sandbox's inventory)
    expect(page.locator('tr[data-vm="lab-big01"]')).to_contain_text("does not hold the VApp.Export privilege")
    expect(page.locator('tr[data-vm="db01"] .guest-os')).to_have_text("Red Hat Enterprise Linux 7 (64-bit)")
    expect(page.locator('tr[data-vm="web01"]').get_by_role("button", name="Migrate VM to EC2: web01")).to_be_enabled()
    assert "rhel7_64Guest" not in page.content()
    user.axe("forms-vm-list")

    phone = open_session(width=390, height=844)
    page = phone.login("alice", PASSWORD)
    page.goto("/vms/")
    expect(page.locator('tr[data-vm="lab-rdm01"]')).to_contain_text("Cannot be migrated:")
    phone.axe("forms-vm-list-phone")


def test_grants_have_their_own_revoke_and_role_change(production, open_session):
    s = production
    admin = open_session()
    page = admin.login("admin", PASSWORD)
    page.goto(f"/environments/{s.environment.pk}/permissions/")
    admin.axe("forms-permissions")
    row = page.locator(f'tr[data-principal="user:{s.alice.pk}"]')

    row.get_by_label("Role of user alice", exact=True).select_option(label="Owner")
    # A plain form's submitter shows it is working, and stays so until the answer replaces the page. The answer
    # is sent to a hidden frame here, so that the page that was submitted can still be looked at.
    page.evaluate("""(principal) => {
        const sink = Object.assign(document.createElement('iframe'), {name: 'sink', hidden: true});
        document.body.append(sink);
        document.querySelector(`tr[data-principal="${principal}"] form.role-change`).target = 'sink';
    }""", f"user:{s.alice.pk}")
    change = row.get_by_role("button", name="Change role of user alice")
    change.click()
    expect(change).to_have_attribute("aria-busy", "true")
    expect(change).to_be_disabled()
    wait_for(lambda: {g.principal_name: g.role for g in environment_grants(environment=s.environment)}["alice"]
             == "owner", timeout=15, what="the role change")
    page.reload()
    expect(page.locator(f'tr[data-principal="user:{s.alice.pk}"] td[data-label="Role"]')).to_have_text("Owner")
    assert {g.principal_name: g.role for g in environment_grants(environment=s.environment)}["alice"] == "owner"

    page.locator(f'tr[data-principal="user:{s.alice.pk}"]').get_by_role(
        "button", name="Revoke the access of user alice").click()  # a link styled as a button
    page.get_by_role("heading", name="Revoke alice’s access to us-east-1 / production?").wait_for()
    admin.axe("forms-revoke-confirm")
    page.get_by_role("button", name="No, keep it").click()
    page.get_by_role("heading", name="Permissions").wait_for()
    assert environment_grants(environment=s.environment)
    page.locator(f'tr[data-principal="user:{s.alice.pk}"]').get_by_role(
        "button", name="Revoke the access of user alice").click()
    page.get_by_role("button", name="Yes, revoke alice’s access to us-east-1 / production").click()
    page.get_by_text("The user alice has no access to us-east-1 / production any more.").wait_for()
    assert not environment_grants(environment=s.environment)
    expect(page.locator(f'tr[data-principal="user:{s.alice.pk}"]')).to_have_count(0)
    admin.axe("forms-permissions-after-revoke")
    # The portal refuses to be framed (X-Frame-Options: DENY), which the hidden frame reports; nothing else may.
    errors = [e for e in admin.console_errors if "X-Frame-Options" not in e]
    assert not errors, errors

    auditor = open_session(width=390, height=844)
    page = auditor.login("audrey", PASSWORD)
    page.goto(f"/environments/{s.environment.pk}/permissions/")
    assert page.get_by_role("button", name=re.compile("Revoke|Change")).count() == 0
    auditor.axe("forms-permissions-auditor-phone")


def test_the_templates_tab_launches_in_one_click(production, open_session):
    s = production
    user = open_session()
    page = user.login("alice", PASSWORD)
    page.goto(f"/environments/{s.environment.pk}/templates/")
    user.axe("forms-templates-tab")
    page.get_by_role("button", name="Launch an instance from web-small").click()  # a link styled as a button
    page.get_by_role("heading", name="Launch an instance from web-small").wait_for()
    assert page.url.endswith(f"/templates/{s.template.pk}/launch/")
    user.axe("forms-template-launch")
