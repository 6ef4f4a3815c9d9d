"""Launching from a template: RunInstances with a ClientToken (and the token tagged and looked up first), the
instance recorded under the environment as launched, and powered with start, stop and reboot."""

import pytest
from django.urls import reverse

from environments import services as env_services
from environments.choices import InstanceOrigin
from environments.models import ImportedInstance, Template
from lifecycle.launches.models import TOKEN_TAG, LaunchTask
from core.models import AuditLog
from adapters.aws import client as aws
from tests.jobs_engine.drive import launch_tick
from tests.lifecycle.conftest import SimulatedCrash, record_calls, run_queue

pytestmark = pytest.mark.aws


@pytest.fixture
def template(s):
    return env_services.template_create(actor=s.a.user_owner, environment=s.environment, data=dict(
        name="app", ami_id=s.image_id, instance_type="t3.small", subnet=s.subnet, security_group=s.security_group))


def _instances_tagged(s, key, value):
    reservations = s.ec2.describe_instances(Filters=[{"Name": f"tag:{key}", "Values": [value]}])["Reservations"]
    return [i for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"]


def test_launch_records_the_instance_under_the_environment_with_power_actions(s, api, template, monkeypatch):
    calls = record_calls(monkeypatch, "RunInstances")
    client = api.as_user(s.a.user_general)
    response = client.post(reverse("api:template-launch", kwargs={"pk": template.pk}), {}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "queued" and body["image_id"] == s.image_id and body["subnet_id"] == s.subnet.subnet_id
    run_queue()
    task = LaunchTask.objects.get(pk=body["id"])
    assert task.state == "completed", task.status_message
    calls = [c for c in calls if c["ClientToken"] == task.client_token]  # the world's own queued launch ran too
    assert len(calls) == 1
    assert calls[0]["InstanceType"] == "t3.small" and calls[0]["SecurityGroupIds"] == [s.security_group.group_id]
    instance = ImportedInstance.objects.get(instance_id=task.instance_id)
    assert task.launched_instance == instance
    assert (instance.environment, instance.origin, instance.image_id) == (s.environment, InstanceOrigin.LAUNCHED,
                                                                          s.image_id)
    assert AuditLog.objects.filter(action="instance.launch", object_id=str(instance.pk),
                                   actor=s.a.user_general).exists()
    listed = client.get(reverse("api:instance-list"), {"environment": s.environment.pk}).json()["results"]
    assert {i["instance_id"]: i["origin"] for i in listed}[task.instance_id] == "launched"
    for verb, state in (("stop", "stopped"), ("start", "running"), ("reboot", "running")):
        powered = client.post(reverse(f"api:instance-{verb}", kwargs={"pk": instance.pk}))
        assert powered.status_code == 200, powered.content
        assert powered.json()["state"] in (state, "stopping", "pending")
        ec2_state = s.ec2.describe_instances(InstanceIds=[task.instance_id])["Reservations"][0]["Instances"][0]
        assert ec2_state["State"]["Name"] in (state, "stopping", "pending")
    detail = api.as_user(s.a.auditor).get(reverse("api:launch-detail", kwargs={"pk": task.pk})).json()
    assert detail["launched_instance"] == instance.pk and detail["instance_id"] == task.instance_id


def test_the_same_idempotency_key_launches_once(s, api, template):
    client = api.as_user(s.a.user_general)
    url = reverse("api:template-launch", kwargs={"pk": template.pk})
    first = client.post(url, {"idempotency_key": "deploy-42"}, format="json")
    again = client.post(url, {"idempotency_key": "deploy-42"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    run_queue()
    task = LaunchTask.objects.get(pk=first.json()["id"])
    assert [i["InstanceId"] for i in _instances_tagged(s, TOKEN_TAG, task.client_token)] == [task.instance_id]
    assert client.post(url, {"idempotency_key": "deploy-42"}, format="json").json()["state"] == "completed"
    other = env_services.template_create(actor=s.a.user_owner, environment=s.environment, data=dict(
        name="other", ami_id=s.image_id, instance_type="t3.micro", subnet=s.subnet, security_group=s.security_group))
    reused = client.post(reverse("api:template-launch", kwargs={"pk": other.pk}), {"idempotency_key": "deploy-42"},
                         format="json")
    assert reused.status_code == 409 and reused.json()["errors"][0]["code"] == "idempotency_key_reused"


def test_crash_between_run_instances_and_saving_its_id_launches_one_instance(s, api, template, monkeypatch):
    real_run = aws.run_instance

    def run_then_die(*args, **kwargs):
        real_run(*args, **kwargs)
        raise SimulatedCrash()

    monkeypatch.setattr(aws, "run_instance", run_then_die)
    task_id = api.as_user(s.a.user_general).post(reverse("api:template-launch", kwargs={"pk": template.pk}),
                                                 format="json").json()["id"]
    with pytest.raises(SimulatedCrash):
        launch_tick(task_id)
    task = LaunchTask.objects.get(pk=task_id)
    assert task.state == "launching" and task.instance_id == ""
    monkeypatch.setattr(aws, "run_instance", real_run)
    assert launch_tick(task_id) == "done"
    task.refresh_from_db()
    assert task.state == "completed"
    assert [i["InstanceId"] for i in _instances_tagged(s, "portal-launch", str(task_id))] == [task.instance_id]
    assert ImportedInstance.objects.filter(instance_id=task.instance_id).count() == 1


def test_a_refused_launch_fails_with_aws_message(s, api):
    # A template whose image was deregistered after it was saved (saving checks that the image exists).
    broken = Template.objects.create(tenant=s.a.tenant, environment=s.environment, created_by=s.a.user_owner,
                                     name="broken", ami_id="ami-0000000000000dead", instance_type="t3.micro",
                                     subnet=s.subnet, security_group=s.security_group)
    task_id = api.as_user(s.a.user_general).post(reverse("api:template-launch", kwargs={"pk": broken.pk}),
                                                 format="json").json()["id"]
    run_queue()
    task = LaunchTask.objects.get(pk=task_id)
    assert task.state == "failed" and task.error_code.startswith("aws_Invalid"), (task.error_code,
                                                                                   task.status_message)
    assert not ImportedInstance.objects.filter(environment=s.environment, origin=InstanceOrigin.LAUNCHED).exists()
