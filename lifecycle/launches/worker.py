"""The step of a launch: (admitted) launching (RunInstances) -> completed, the instance recorded under the
environment through `instance_record_launched`. RunInstances carries the ClientToken saved with the job, and the
instance is tagged with it and looked up first, so a crash between the call and saving the instance id never
launches a second instance."""

from __future__ import annotations

import logging

from django.db import transaction

from adapters.aws import client as aws
from core.errors import PortalError
from core.jobs.runner import StepRunner
from core.peers import aws_credentials
from environments.models import ImportedInstance
from environments.selectors import still_operates
from environments.services import instance_record_launched
from lifecycle.launches.models import TOKEN_TAG, LaunchState, LaunchTask

logger = logging.getLogger("portal.lifecycle.launches")
S = LaunchState


class LaunchRunner(StepRunner):
    """A launch's step and release rule; the engine (core.jobs) drives them."""

    select_related = ("tenant", "environment__region", "created_by")

    def steps(self) -> dict:
        return {S.LAUNCHING: self.launch}

    def authorized(self, task: LaunchTask) -> bool:
        return still_operates(task)

    def unauthorized_message(self, task: LaunchTask) -> str:
        return (f"{task.created_by.get_username()} no longer holds the general role on this environment (grant "
                "revoked or account deactivated), so the job was stopped.")

    def launch(self, task: LaunchTask):
        credentials, region = aws_credentials(task.tenant), task.environment.region.code
        if task.instance_id:
            info = aws.instance_describe(credentials, region, task.instance_id)
        else:
            self.fence()
            info = aws.instance_find_by_tag(credentials, region, TOKEN_TAG, task.client_token) or aws.run_instance(
                credentials, region, client_token=task.client_token, image_id=task.image_id,
                instance_type=task.instance_type, subnet_id=task.subnet_id, security_group_id=task.security_group_id,
                key_name=task.key_name, tags={
                    "Name": task.template_name, TOKEN_TAG: task.client_token, "portal-launch": str(task.pk),
                    "aws-management-portal/environment-id": str(task.environment_id)})
            self.save(instance_id=info.instance_id)
        # The record and the completion commit together: a launch that lost its lease records nothing.
        with transaction.atomic():
            instance = instance_record_launched(
                actor=task.created_by, environment=task.environment, instance_id=info.instance_id,
                image_id=task.image_id, instance_type=task.instance_type, private_ip=info.private_ip,
                state=info.state, template_name=task.template_name)
            self.move(task, S.COMPLETED, launched_instance=instance, step="done",
                      status_message=f"Launched {info.instance_id} ({info.state})")
        return None

    def release(self, task: LaunchTask) -> list[str]:
        """An instance launched but never recorded could be seen or stopped by nobody: it does not outlive the
        job."""
        if not task.instance_id or ImportedInstance.objects.filter(tenant=task.tenant,
                                                                   instance_id=task.instance_id).exists():
            return []
        self.fence()
        try:
            aws.instance_terminate(aws_credentials(task.tenant), task.environment.region.code, task.instance_id)
        except (aws.AwsError, PortalError) as exc:
            return [exc.message]
        return []
