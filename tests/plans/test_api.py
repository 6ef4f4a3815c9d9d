"""The plans API against both sandboxes: create, add VMs, validate, start, progress, CSV in and out."""

import pytest
from django.urls import reverse

from migrations_app.models import MigrationTask
from migrations_app.plans.models import MigrationPlan, PlanVm

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def test_a_plan_through_the_api(setup, api):
    s = setup
    client = api.as_user(s.alice)
    created = client.post(reverse("api:plan-list"), {
        "environment": s.environment.pk, "name": "december", "subnet": s.subnet.pk,
        "security_group": s.security_group.pk}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["state"] == "draft"
    added = client.post(reverse("api:plan-vms", kwargs={"pk": pk}), {"vms": [
        {"vm": "web01", "instance_type": "t2.micro"},
        {"vm": "lab-rdm01", "wave": 2, "operating_system": "centos-7", "instance_type": "t2.micro"}]}, format="json")
    assert added.status_code == 201, added.content
    waves = added.json()["waves"]
    assert [(w["number"], [v["vm_name"] for v in w["vms"]]) for w in waves] == [(1, ["web01"]), (2, ["lab-rdm01"])]
    validated = client.post(reverse("api:plan-validate", kwargs={"pk": pk}), format="json")
    assert validated.status_code == 200
    body = validated.json()
    assert body["ok"] is False
    blocked = {v["vm_name"]: [p["code"] for p in v["problems"]] for v in body["vms"]}
    assert blocked == {"web01": [], "lab-rdm01": ["rdm_disk", "no_vcenter_privilege"]}  # alice: Production only
    refused = client.post(reverse("api:plan-start", kwargs={"pk": pk}), {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["validation"]["ok"] is False and not MigrationTask.objects.exists()
    rdm = PlanVm.objects.get(vm_name="lab-rdm01")
    assert client.delete(reverse("api:plan-vm-detail", kwargs={"pk": rdm.pk})).status_code == 204
    started = client.post(reverse("api:plan-start", kwargs={"pk": pk}), {}, format="json")
    assert started.status_code == 202, started.content
    assert started.json()["live_run"]["state"] == "waiting"
    # Someone else with the general role sees it but may not cancel it.
    assert api.as_user(s.bob).get(reverse("api:plan-detail", kwargs={"pk": pk})).status_code == 200
    assert api.as_user(s.bob).post(reverse("api:plan-cancel", kwargs={"pk": pk})).status_code == 404
    cancelled = api.as_user(s.alice).post(reverse("api:plan-cancel", kwargs={"pk": pk}))
    assert cancelled.status_code == 200 and cancelled.json()["live_run"] is None


def test_csv_import_reports_every_bad_row_and_creates_nothing_then_round_trips(setup, api):
    s = setup
    client = api.as_user(s.alice)
    pk = client.post(reverse("api:plan-list"), {"environment": s.environment.pk, "name": "csv"},
                     format="json").json()["id"]
    bad = ("vm,wave,operating_system,instance_type,subnet,private_ip,power_off\n"
           f"web01,1,,t2.micro,{s.subnet.subnet_id},,\n"
           "nosuchvm,1,,,,,\n"
           "db01,zero,beos,t9.huge,subnet-nope,10.0.0.300,maybe\n"
           "web01,2,,,,,\n")
    response = client.post(reverse("api:plan-import-csv", kwargs={"pk": pk}), {"csv": bad}, format="json")
    assert response.status_code == 400
    details = [e["detail"] for e in response.json()["errors"]]
    assert "line 3, field vm: there is no virtual machine 'nosuchvm' in vCenter." in details
    for field in ("wave", "operating_system", "instance_type", "subnet", "private_ip", "power_off"):
        assert any(d.startswith(f"line 4, field {field}:") for d in details), (field, details)
    assert "line 5, field vm: web01 is already on line 2." in details
    assert not PlanVm.objects.exists()
    good = ("vm,wave,operating_system,instance_type,subnet,security_group,power_off\n"
            f"web01,1,,t2.micro,{s.subnet.subnet_id},{s.security_group.group_id},\n"
            f"{s.vms['db01'].moref},2,rhel-8,t2.small,,,yes\n")
    imported = client.post(reverse("api:plan-import-csv", kwargs={"pk": pk}), {"csv": good}, format="json")
    assert imported.status_code == 201, imported.content
    exported = client.get(reverse("api:plan-export", kwargs={"pk": pk}))
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    text = exported.content.decode()
    lines = text.splitlines()
    assert lines[0] == ("vm,wave,operating_system,instance_type,subnet,security_group,key_pair,private_ip,"
                        "power_off,license_type")
    assert lines[1] == (f"{s.vms['web01'].moref},1,ubuntu-22.04,t2.micro,{s.subnet.subnet_id},"
                        f"{s.security_group.group_id},,,,")
    assert lines[2] == f"{s.vms['db01'].moref},2,rhel-8,t2.small,,,,,yes,"
    # The export reads back into another plan as the same VMs and settings.
    other = client.post(reverse("api:plan-list"), {"environment": s.environment.pk, "name": "copy"},
                        format="json").json()["id"]
    assert client.post(reverse("api:plan-import-csv", kwargs={"pk": other}), {"csv": text},
                       format="json").status_code == 201
    assert client.get(reverse("api:plan-export", kwargs={"pk": other})).content.decode() == text
    assert MigrationPlan.objects.count() == 2
