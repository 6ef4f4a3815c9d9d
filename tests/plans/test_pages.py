"""The plan pages, server-side, against both sandboxes: create a plan, add VMs, validate, start, watch the rows,
cancel with confirmation, CSV in and out."""

import pytest
from django.test import Client
from django.urls import reverse

from migrations_app.plans.models import MigrationPlan, PlanRun
from tests.migrations.conftest import PASSWORD

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _client(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_a_plan_from_the_pages(setup):
    s = setup
    s.aws.set_speed(500)
    alice = _client(s.alice)
    created = alice.post(reverse("ui:plans"), {"environment": s.environment.pk, "name": "night",
                                               "subnet": s.subnet.pk, "security_group": s.security_group.pk})
    assert created.status_code == 302
    plan = MigrationPlan.objects.get(name="night")
    assert (plan.subnet, plan.security_group, plan.power_off) == (s.subnet, s.security_group, False)
    here = reverse("ui:plan", args=[plan.pk])
    assert created["Location"] == here
    added = alice.post(here, {"form": "add", "add-vms": "web01\nlab-rdm01", "add-wave": "1"})
    assert added.status_code == 302, added.content.decode()[:2000]
    page = alice.get(here).content.decode()
    assert "Wave 1" in page and "web01" in page and "lab-rdm01" in page and "Not started" in page
    # A draft offers Start, not Retry failed (nothing has failed yet).
    assert 'value="start">Start</button>' in page and 'value="retry"' not in page
    validated = alice.post(here, {"form": "validate"}).content.decode()
    assert "lab-rdm01" in validated and "raw device mapping" in validated
    refused = alice.post(here, {"form": "start", "schedule-start_at": ""})
    assert refused.status_code == 200 and "cannot be migrated as planned" in refused.content.decode()
    assert not PlanRun.objects.exists()
    plan.vms.filter(vm_name="lab-rdm01").delete()
    assert alice.post(here, {"form": "wave", "wave-number": "2", "wave-start_at": "2099-12-09T01:30"}).status_code == 302
    assert "Wave 2 · at 2099-12-09 01:30 UTC (UTC+00:00)" in alice.get(here).content.decode()
    started = alice.post(here, {"form": "start", "schedule-start_at": "2099-12-08T22:00"})
    assert started.status_code == 302
    run = PlanRun.objects.get()
    assert run.state == "waiting" and run.start_at.isoformat().startswith("2099-12-08T22:00")
    rows = alice.get(reverse("ui:plan-rows", args=[plan.pk])).content.decode()
    assert 'data-polling="on"' in rows and "Scheduled" in rows and "2099-12-08 22:00 UTC (UTC+00:00)" in rows
    confirm = alice.get(reverse("ui:plan-cancel", args=[plan.pk])).content.decode()
    assert "Yes, cancel plan night" in confirm and "No, keep it running" in confirm
    assert alice.post(reverse("ui:plan-cancel", args=[plan.pk])).status_code == 302
    run.refresh_from_db()
    assert run.state == "cancelled"
    assert 'data-polling="off"' in alice.get(reverse("ui:plan-rows", args=[plan.pk])).content.decode()
    listed = alice.get(reverse("ui:plans"), {"environment": s.environment.pk}).content.decode()
    assert "night" in listed and "Draft" in listed  # cancelled before its start: nothing ran
    assert "night" not in alice.get(reverse("ui:plans"), {"environment": s.environment.pk + 1000}).content.decode()
    exported = alice.get(reverse("ui:plan-export", args=[plan.pk]))
    assert exported.status_code == 200 and s.vms["web01"].moref in exported.content.decode()


def test_a_bad_csv_shows_each_problem_and_adds_nothing(setup):
    from django.core.files.uploadedfile import SimpleUploadedFile

    s = setup
    alice = _client(s.alice)
    alice.post(reverse("ui:plans"), {"environment": s.environment.pk, "name": "csv"})
    plan = MigrationPlan.objects.get(name="csv")
    upload = SimpleUploadedFile("plan.csv", b"vm,wave\nweb01,1\nnosuch,x\n", content_type="text/csv")
    page = alice.post(reverse("ui:plan", args=[plan.pk]), {"form": "import", "csv-file": upload}).content.decode()
    assert "line 3, field vm:" in page and "line 3, field wave:" in page
    assert not plan.vms.exists()
