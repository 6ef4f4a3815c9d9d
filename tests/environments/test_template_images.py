"""A template names a real image (issue 20): an AMI that does not exist in the environment's region, or that the
tenant's AWS account cannot see, is refused with a 400 naming it, when the template is saved rather than when a
launch fails later. Checked with the tenant's own credentials against the sandbox AWS."""

from __future__ import annotations

import pytest
from django.urls import reverse

from environments.models import Template

pytestmark = pytest.mark.aws


@pytest.fixture
def images(world, aws, aws_tenant_account):
    aws_tenant_account(world.a.tenant)

    def register(region):
        ec2 = aws.client("ec2", region_name=region)
        return ec2.register_image(Name=f"base-{region}", RootDeviceName="/dev/sda1", BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}])["ImageId"]

    return register


def _body(a, ami_id, name="api-tier"):
    return {"environment": a.environment.pk, "name": name, "ami_id": ami_id, "instance_type": "t3.small",
            "subnet": a.subnet.pk, "security_group": a.security_group.pk}


def _refused_on_ami(response, ami_id):
    assert response.status_code == 400, response.content
    (error,) = response.json()["errors"]
    assert (error["attr"], error["code"]) == ("ami_id", "image_not_found")
    assert ami_id in error["detail"] and "us-east-1" in error["detail"]


def test_an_unknown_image_is_refused_when_the_template_is_saved(world, api, images):
    a = world.a
    client = api.as_user(a.user_owner)
    unknown = "ami-0fedcba9876543210"
    _refused_on_ami(client.post(reverse("api:template-list"), _body(a, unknown), format="json"), unknown)
    elsewhere = images("eu-west-1")
    _refused_on_ami(client.post(reverse("api:template-list"), _body(a, elsewhere), format="json"), elsewhere)
    assert not Template.objects.filter(name="api-tier").exists()

    real = images("us-east-1")
    created = client.post(reverse("api:template-list"), _body(a, real), format="json")
    assert created.status_code == 201, created.content
    url = reverse("api:template-detail", kwargs={"pk": created.json()["id"]})
    _refused_on_ami(client.patch(url, {"ami_id": unknown}, format="json"), unknown)
    assert Template.objects.get(pk=created.json()["id"]).ami_id == real
    # Fields other than the image need no AWS call and no image check.
    assert client.patch(url, {"description": "front"}, format="json").status_code == 200


def test_the_page_and_the_command_refuse_it_too(world, images):
    from django.core.management import CommandError, call_command
    from django.test import Client

    a = world.a
    browser = Client()
    browser.force_login(a.user_owner)
    page = browser.post(reverse("ui:template-create", kwargs={"pk": a.environment.pk}), {
        "name": "from-page", "ami_id": "ami-0aaaaaaaaaaaaaaaa", "instance_type": "t3.small", "subnet": a.subnet.pk,
        "security_group": a.security_group.pk})
    assert page.status_code == 200 and "ami-0aaaaaaaaaaaaaaaa" in page.content.decode()
    with pytest.raises(CommandError, match="ami-0bbbbbbbbbbbbbbbb"):
        call_command("launch_templates", "create", "--user", a.user_owner.username, "--environment",
                     str(a.environment.pk), "--name", "from-cli", "--ami", "ami-0bbbbbbbbbbbbbbbb",
                     "--instance-type", "t3.small", "--subnet", str(a.subnet.pk), "--security-group",
                     str(a.security_group.pk))
    assert not Template.objects.filter(name__in=["from-page", "from-cli"]).exists()
