"""Plan runs are a registered job kind: the task history lists them and notifications announce them, with no
code of their own in either."""

import pytest
from django.utils import timezone

from core.jobs.kinds import kind
from core.notifications.choices import job_events
from migrations_app.plans.models import PlanRun
from migrations_app.plans.selectors import in_tenant_zone
from portal.site.history import HistoryFilters, history_row, history_rows, history_types

pytestmark = pytest.mark.django_db


def test_plan_runs_are_in_the_task_history_and_its_notifications(world):
    a = world.a
    run = PlanRun.objects.create(tenant=a.tenant, plan=a.plan, plan_name=a.plan.name, environment=a.environment,
                                 created_by=a.user_general, start_at=timezone.now())
    assert "plan" in history_types()
    rows = [history_row(r) for r in history_rows(fetched_by=a.admin, filters=HistoryFilters(type="plan"))]
    assert [(r["type"], r["id"], r["summary"], r["state"]) for r in rows] == [("plan", run.pk, "cutover", "waiting")]
    events = job_events()
    assert "plan.completed" in events and "plan.failed" in events
    assert kind("plan").model is PlanRun


def test_scheduled_times_are_shown_in_the_tenants_zone_with_the_offset(world):
    import datetime

    tenant = world.a.tenant
    tenant.time_zone = "Europe/Berlin"
    moment = datetime.datetime(2026, 12, 8, 21, 0, tzinfo=datetime.UTC)
    assert in_tenant_zone(moment, tenant) == "2026-12-08 22:00 CET (UTC+01:00)"
    tenant.time_zone = "Mars/Olympus"
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        tenant.full_clean()


def test_a_platform_operator_sets_the_tenants_time_zone(world, api):
    from django.urls import reverse

    from tests.world import actor

    url = reverse("api:tenant-detail", kwargs={"pk": world.a.tenant.pk})
    client = api.as_user(actor(world, "platform"))
    assert client.patch(url, {"time_zone": "Europe/Berlin"}, format="json").json()["time_zone"] == "Europe/Berlin"
    refused = client.patch(url, {"time_zone": "Mars/Olympus"}, format="json")
    assert refused.status_code == 400
    world.a.tenant.refresh_from_db()
    assert world.a.tenant.time_zone == "Europe/Berlin"


def test_a_file_that_is_not_csv_is_refused_by_line(world):
    from django.core.exceptions import ValidationError

    from migrations_app.plans.csvio import plan_csv_import

    a = world.a
    with pytest.raises(ValidationError) as refused:
        plan_csv_import(actor=a.user_general, plan=a.plan, text="vm,wave\nweb01,1\n\"" + "x" * 200_000 + "\"\n",
                        vms=[])
    assert any(m.startswith("line 3, field vm: the file is not valid CSV (field larger than field limit")
               for m in refused.value.message_dict["csv"]), refused.value.message_dict
    assert a.plan.vms.count() == 1  # the world's own VM, nothing added
