"""The worker side of a launch: queued -> launching (RunInstances) -> completed, the instance recorded under the
environment through `instance_record_launched`. RunInstances carries the ClientToken saved with the job, and the
instance is tagged with it and looked up first, so a crash between the call and saving the instance id never
launches a second instance."""

from __future__ import annotations

import logging

from environments.jobs.runner import JobRunner, run_tick
from environments.jobs.transitions import job_transition
from environments.launches.models import TOKEN_TAG, LaunchState, LaunchTask
from environments.models import ImportedInstance
from environments.services import instance_record_launched
from portal.core.errors import PortalError
from portal.core.peers import aws_credentials
from portal.integrations.aws import client as aws

logger = logging.getLogger("portal.environments.launches")
S = LaunchState


def launch_tick(task_id: int) -> str:
    return run_tick(LaunchRunner, task_id)


class LaunchRunner(JobRunner):
    model = LaunchTask
    AUTHORIZED_STATES = frozenset({S.QUEUED, S.LAUNCHING})

    def steps(self) -> dict:
        return {S.QUEUED: self.start, S.LAUNCHING: self.launch}

    def start(self, task: LaunchTask):
        self.move(task, S.LAUNCHING, step="launching", status_message=f"Launching from template {task.template_name}")
        return None

    def launch(self, task: LaunchTask):
        credentials, region = aws_credentials(task.tenant), task.environment.region.code
        if task.instance_id:
            info = aws.instance_describe(credentials, region, task.instance_id)
        else:
            info = aws.instance_find_by_tag(credentials, region, TOKEN_TAG, task.client_token) or aws.run_instance(
                credentials, region, client_token=task.client_token, image_id=task.image_id,
                instance_type=task.instance_type, subnet_id=task.subnet_id, security_group_id=task.security_group_id,
                key_name=task.key_name, tags={
                    "Name": task.template_name, TOKEN_TAG: task.client_token, "portal-launch": str(task.pk),
                    "aws-management-portal/environment-id": str(task.environment_id)})
            self.save(instance_id=info.instance_id)
        instance = instance_record_launched(
            actor=task.created_by, environment=task.environment, instance_id=info.instance_id, image_id=task.image_id,
            instance_type=task.instance_type, private_ip=info.private_ip, state=info.state,
            template_name=task.template_name)
        self.move(task, S.COMPLETED, launched_instance=instance, step="done",
                  status_message=f"Launched {info.instance_id} ({info.state})")
        return None

    def fail(self, task: LaunchTask, code: str, message: str) -> str:
        logger.warning("launch %s failed: %s: %s", task.pk, code, message)
        task = self.task()
        problems = []
        if task.instance_id and not ImportedInstance.objects.filter(tenant=task.tenant,
                                                                    instance_id=task.instance_id).exists():
            # Launched but never recorded: nobody could see or stop it, so it does not outlive the job.
            try:
                aws.instance_terminate(aws_credentials(task.tenant), task.environment.region.code, task.instance_id)
            except (aws.AwsError, PortalError) as exc:
                problems.append(exc.message)
        suffix = f" (cleanup: {'; '.join(problems)})" if problems else ""
        job_transition(LaunchTask, task_id=task.pk, to=S.FAILED, epoch=self.epoch, expected_from=LaunchTask.WORKABLE,
                       step="failed", error_code=code[:100], status_message=(message + suffix)[:1000])
        return "failed"
