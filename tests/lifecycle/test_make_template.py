"""A template made from a backup in one step launches the backup's image."""

import pytest
from django.urls import reverse

from environments.models import ImportedInstance, Template
from lifecycle.backups import services as backup_services
from lifecycle.launches.models import LaunchTask
from tests.lifecycle.conftest import run_queue

pytestmark = pytest.mark.aws


def test_make_template_from_backup_then_launch_it(s, api):
    backup = backup_services.backup_start(actor=s.a.user_general, instance=s.instance)
    url = reverse("api:backup-make-template", kwargs={"pk": backup.pk})
    body = {"name": "app-restore", "instance_type": "t3.micro", "subnet": s.subnet.pk,
            "security_group": s.security_group.pk}
    not_yet = api.as_user(s.a.user_owner).post(url, body, format="json")
    assert not_yet.status_code == 409 and not_yet.json()["errors"][0]["code"] == "backup_not_available"
    run_queue()
    backup.refresh_from_db()
    assert backup.state == "available"
    assert api.as_user(s.a.user_general).post(url, body, format="json").status_code == 404  # owners make templates
    made = api.as_user(s.a.user_owner).post(url, body, format="json")
    assert made.status_code == 201, made.content
    template = Template.objects.get(pk=made.json()["id"])
    assert (template.ami_id, template.environment, template.created_by) == (backup.image_id, s.environment,
                                                                            s.a.user_owner)
    launch = api.as_user(s.a.user_general).post(reverse("api:template-launch", kwargs={"pk": template.pk}))
    assert launch.status_code == 201
    run_queue()
    task = LaunchTask.objects.get(pk=launch.json()["id"])
    assert task.state == "completed" and task.image_id == backup.image_id
    launched = ImportedInstance.objects.get(instance_id=task.instance_id)
    ec2 = s.ec2.describe_instances(InstanceIds=[launched.instance_id])["Reservations"][0]["Instances"][0]
    assert ec2["ImageId"] == backup.image_id


def test_template_resources_must_be_of_the_backups_environment(s, api):
    backup = backup_services.backup_start(actor=s.a.user_general, instance=s.instance)
    run_queue()
    other = s.a  # the world's "prod" environment has its own subnet and security group
    response = api.as_user(s.a.admin).post(reverse("api:backup-make-template", kwargs={"pk": backup.pk}), {
        "name": "mixed", "instance_type": "t3.micro", "subnet": other.subnet.pk,
        "security_group": s.security_group.pk}, format="json")
    assert response.status_code == 400
    assert {e["attr"] for e in response.json()["errors"]} == {"subnet"}
