"""What a user sees first, in a real browser: the administrator's header on one line at 1280 px with every grouped
link reachable by keyboard and by mouse, the dashboard's live migration with its progress and the "Migrate a VM"
action, the side tree loading a collapsed region when it is opened and its search finding an environment; the
auditor's dashboard read-only; the header's menu on a phone without sideways scrolling."""


import pytest
from django.utils import timezone

from environments import services as env_services
from environments.models import Environment, SecurityGroup, Subnet
from migrations_app.models import MigrationTask
from tests.browser.conftest import PASSWORD, acme

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.browser, pytest.mark.process]

LAPTOP = {"width": 1280, "height": 900}
GROUPED = {"Administration": ["Users & groups", "Settings", "vmimport role", "Connector", "Webhooks"],
           "Audit": ["Task history", "Audit log"]}


@pytest.fixture
def tenant(transactional_db, aws, vcenter, settings, live_server):
    """A tenant with two regions and a migration half-way through; no worker, so that the row stays as written."""
    settings.AWS_ENDPOINT_URL = aws.endpoint_url
    s = acme(vcenter=vcenter)
    east = env_services.region_create(actor=s.admin, code="us-east-1")
    west = env_services.region_create(actor=s.admin, code="eu-west-1")
    s.production = Environment.objects.create(tenant=s.tenant, region=east, name="production")
    Environment.objects.bulk_create([Environment(tenant=s.tenant, region=west, name=f"team-{k:02d}")
                                     for k in range(12)])
    s.finance = Environment.objects.create(tenant=s.tenant, region=west, name="finance-reporting")
    subnet = Subnet.objects.create(tenant=s.tenant, environment=s.production, subnet_id="subnet-0123456789abcdef0",
                                   cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
    group = SecurityGroup.objects.create(tenant=s.tenant, environment=s.production, group_id="sg-0123456789abcdef0",
                                         name="web")
    s.migration = MigrationTask.objects.create(
        tenant=s.tenant, environment=s.production, region=east, created_by=s.admin, vm_moref="vm-40",
        vm_name="web01", operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=subnet,
        security_group=group, state="uploading", started_at=timezone.now(), bytes_total=1000, bytes_exported=1000,
        bytes_uploaded=500)
    return s


# The link marked as the current page (hidden in its closed group once the page has loaded) is `link`.
CURRENT_IS = "(link) => document.querySelector('header [aria-current=page]')?.textContent === link"


def _header_height(page) -> float:
    return page.locator("header.site-header").bounding_box()["height"]


def _group(page, name):
    return page.locator("header details.nav-group", has=page.locator("summary", has_text=name))


def test_first_look(tenant, open_session):
    s = tenant
    admin = open_session(**LAPTOP)
    page = admin.login("admin", PASSWORD)

    # The dashboard: the live migration with its progress, and the one obvious action.
    row = page.locator(f"#dash-migration-{s.migration.pk}")
    assert "web01" in row.inner_text() and "Uploading" in row.inner_text()
    progress = row.locator("progress")
    assert progress.get_attribute("aria-label") == "Progress of web01"
    assert int(progress.get_attribute("value")) == s.migration.progress_percent > 0
    action = page.get_by_role("button", name="Migrate a VM")  # a link styled as a button
    assert action.is_visible() and action.get_attribute("href") == "/vms/"
    assert page.get_by_role("columnheader", name="VPC CIDR block").is_visible()
    assert _header_height(page) < 100, _header_height(page)
    admin.axe("first-look-dashboard")

    # Every grouped link, by keyboard: focus the group, open it with Enter, Tab to the link, follow it with Enter.
    for group, links in GROUPED.items():
        for link in links:
            summary = _group(page, group).locator("summary")
            summary.focus()
            page.keyboard.press("Enter")
            target = _group(page, group).get_by_role("link", name=link, exact=True)
            target.wait_for(state="visible")
            for _ in range(len(links)):
                if page.evaluate("document.activeElement.textContent.trim()") == link:
                    break
                page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent.trim()") == link, (
                link, page.url, page.evaluate("document.activeElement.outerHTML.slice(0, 200)"))
            page.keyboard.press("Enter")
            page.wait_for_load_state()
            page.wait_for_function(CURRENT_IS, arg=link)
            assert _group(page, group).locator("summary").get_attribute("aria-current") == "true"
            assert _header_height(page) < 100, (link, _header_height(page))
        admin.axe(f"first-look-{group.lower()}")

    # By mouse, and Escape closes a group and gives the focus back to it.
    _group(page, "Administration").locator("summary").click()
    admin.axe("first-look-menu-open")  # the open menu's contrast, and on a phone its width
    _group(page, "Administration").get_by_role("link", name="Webhooks").click()
    page.wait_for_url("**/webhooks/")
    _group(page, "Audit").locator("summary").click()
    assert _group(page, "Audit").get_by_role("link", name="Audit log").is_visible()
    page.keyboard.press("Escape")
    assert _group(page, "Audit").get_attribute("open") is None
    assert page.evaluate("document.activeElement.textContent.trim()") == "Audit"

    # The tree: from the dashboard every region is collapsed; opening one loads its environments.
    page.goto("/")
    west = page.locator("nav.tree details[data-region=eu-west-1]")
    assert west.get_attribute("open") is None
    west.locator("summary").click()
    west.get_by_role("link", name="team-00").wait_for()
    assert west.get_by_role("link", name="finance-reporting").is_visible()
    admin.axe("first-look-tree-opened")

    # The search finds an environment across regions, and its page shows where it is without another request.
    page.get_by_label("Find an environment by name").fill("finance")
    found = page.locator("#tree-found").get_by_role("link", name="finance-reporting")
    found.wait_for()
    admin.axe("first-look-tree-search")
    found.click()
    page.wait_for_url(f"**/environments/{s.finance.pk}/")
    current = page.locator("nav.tree details[data-region=eu-west-1][open]").get_by_role("link",
                                                                                          name="finance-reporting")
    assert current.get_attribute("aria-current") == "page"
    admin.axe("first-look-environment")
    assert not admin.console_errors, admin.console_errors
    admin.logout()

    # The auditor: the same work, read-only.
    auditor = open_session(**LAPTOP)
    page = auditor.login("audrey", PASSWORD)
    assert page.locator(f"#dash-migration-{s.migration.pk} progress").is_visible()
    assert page.get_by_text("Migrate a VM").count() == 0
    assert _header_height(page) < 100
    auditor.axe("first-look-auditor-dashboard")
    assert not auditor.console_errors, auditor.console_errors

    # A phone: the header wraps, and an open group stays within the screen.
    phone = open_session(width=390, height=844)
    page = phone.login("admin", PASSWORD)
    phone.axe("first-look-phone-dashboard")
    _group(page, "Administration").locator("summary").click()
    assert _group(page, "Administration").get_by_role("link", name="Users & groups").is_visible()
    phone.fits_phone("first-look-phone-menu")
    page.screenshot(path="var/screenshots/first-look-phone-menu.png", full_page=True)
    assert not phone.console_errors, phone.console_errors
