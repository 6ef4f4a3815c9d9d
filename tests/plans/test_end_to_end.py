"""A two-wave plan of small sandbox VMs, run by a real worker process (manage.py qcluster) end to end, the
tenant's connector agent beside it (in a thread) exporting and uploading each migration's disks."""

import pytest

from migrations_app.plans import selectors, services
from migrations_app.plans.models import PlanRun
from tests.migrations.helpers import Worker, wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process]


def test_a_two_wave_plan_completes_on_a_real_worker(setup, plan_of):
    s = setup
    plan = plan_of({"web01": 1, "db01": 2})
    run = services.plan_start(actor=s.alice, plan=plan)
    # The plan's polls are slept inside its tick (no scheduler round trip); three workers leave two for migrations.
    worker = Worker(Q_WORKERS="3", PLAN_POLL_SECONDS="0.5", PLAN_INLINE_WAIT_SECONDS="600",
                    PLAN_TICK_BUDGET_SECONDS="600", PLAN_LEASE_SECONDS="30")
    s.agent.start()
    try:
        done = wait_for(lambda: (r := PlanRun.objects.get(pk=run.pk)).is_terminal and r, timeout=240,
                        interval=0.5, what="the plan run to end")
    finally:
        s.agent.stop()
        worker.stop()
    assert done.state == "completed", done.status_message
    web, db = (plan.vms.select_related("migration").get(vm_name=n) for n in ("web01", "db01"))
    assert web.migration.state == db.migration.state == "completed"
    assert db.migration.created_at >= web.migration.finished_at  # wave 2 started once wave 1 had ended
    assert selectors.plan_state(plan) == "completed"
    assert done.waves_started == [1, 2]
