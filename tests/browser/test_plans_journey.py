"""The plans journey in a real browser, against both sandboxes, a real worker process and the tenant's connector
agent (in a thread: it exports and uploads the plan's migration, and its inventory is what the plan validates
against): alice creates a plan,
adds a VM, validates it, starts it and watches it progress to the end without a reload; every page passes axe and
fits a 390 px phone."""

import re

import pytest

from tests.migrations.conftest import PASSWORD, fast_jobs, setup  # noqa: F401 -- fixtures
from tests.migrations.helpers import Worker

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.browser, pytest.mark.process]


def test_create_validate_start_and_watch_a_plan(setup, live_server, open_session):  # noqa: F811
    s = setup
    s.aws.set_speed(500)
    worker = Worker(Q_WORKERS="3", PLAN_POLL_SECONDS="0.5", PLAN_INLINE_WAIT_SECONDS="600",
                    PLAN_TICK_BUDGET_SECONDS="600", PLAN_LEASE_SECONDS="30")
    s.agent.start()
    try:
        alice = open_session()
        page = alice.login("alice", PASSWORD)
        page.goto("/plans/")
        alice.axe("plans-list")
        page.get_by_label("Environment:", exact=True).select_option(str(s.environment.pk))
        page.get_by_label("Name:", exact=True).fill("night-cutover")
        page.get_by_label(re.compile("^Default subnet")).select_option(str(s.subnet.pk))
        page.get_by_label(re.compile("^Default security group")).select_option(str(s.security_group.pk))
        page.get_by_role("button", name="Create plan").click()
        page.get_by_role("heading", name="Plan night-cutover").wait_for()
        alice.axe("plan-draft")
        page.get_by_label(re.compile("VMs \\(names or morefs")).fill("web01")
        page.get_by_role("button", name="Add VMs").click()
        page.locator('tr[data-vm="web01"]').wait_for()
        page.get_by_role("button", name="Validate").click()
        page.get_by_text("All 1 VMs can be migrated.").wait_for()
        alice.axe("plan-validated")
        page.get_by_role("button", name="Start", exact=True).click()
        page.locator('#plan-rows[data-polling="on"]').wait_for()
        # The rows refresh themselves until the plan has ended.
        page.locator('[data-plan-state="completed"]').wait_for(timeout=120_000)
        page.locator('#plan-rows[data-polling="off"]').wait_for()
        assert page.locator('tr[data-vm="web01"]').get_by_text("Completed").count() >= 1
        alice.axe("plan-completed")
        page.goto("/plans/")
        assert page.get_by_role("cell", name="Completed").count() == 1
        assert not alice.console_errors, alice.console_errors
    finally:
        s.agent.stop()
        worker.kill9()
        worker.stop()
