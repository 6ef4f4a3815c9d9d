"""The worker side of a backup: queued -> creating (CreateImage, then DescribeImages until the image is
available) -> available, then the schedule's retention; `cancelling` and `deleting` release an image and its
snapshots. Killed at any point, the next tick resumes: the image is found by the job's token tag before any
CreateImage, so a crash between CreateImage and saving its id never makes a second image."""

from __future__ import annotations

import logging

from django.conf import settings

from environments.backups import choices
from environments.backups.choices import BackupState
from environments.backups.models import BackupTask
from environments.backups.retention import retention_apply
from environments.jobs.runner import JobRunner, Moved, StepFailed, run_tick
from environments.jobs.transitions import job_transition
from portal.core.errors import PortalError
from portal.core.peers import aws_credentials
from portal.integrations.aws import client as aws

logger = logging.getLogger("portal.environments.backups")
S = BackupState


def backup_tick(task_id: int) -> str:
    return run_tick(BackupRunner, task_id)


class BackupRunner(JobRunner):
    model = BackupTask
    AUTHORIZED_STATES = frozenset({S.QUEUED, S.CREATING})

    def task(self) -> BackupTask:
        return BackupTask.objects.select_related("tenant", "environment__region", "instance", "created_by").get(
            pk=self.task_id)

    def steps(self) -> dict:
        return {S.QUEUED: self.start, S.CREATING: self.create, S.CANCELLING: self.finish_cancel,
                S.DELETING: self.delete}

    @staticmethod
    def aws_of(task: BackupTask):
        return aws_credentials(task.tenant), task.environment.region.code

    # -- steps ---------------------------------------------------------------------------------------------------

    def start(self, task: BackupTask):
        self.move(task, S.CREATING, step="creating the image", status_message=(
            f"Creating an image of {task.instance.instance_id}" + (" (rebooting it)" if task.reboot else "")))
        return None

    def create(self, task: BackupTask):
        credentials, region = self.aws_of(task)
        if not task.image_id:
            found = aws.image_find_by_tag(credentials, region, choices.TOKEN_TAG, task.client_token)
            if found is None:
                try:
                    image_id = aws.image_create(
                        credentials, region, instance_id=task.instance.instance_id, name=task.image_name,
                        description=f"Backup {task.pk} of {task.instance.instance_id} (migration portal)",
                        no_reboot=not task.reboot, tags=self.tags(task))
                except aws.AwsError as exc:
                    if exc.code != "InvalidAMIName.Duplicate":
                        raise
                    # The name is this job's own: an earlier attempt's image exists but its tag is not visible
                    # yet (EC2 reads are eventually consistent). Look again rather than fail.
                    return settings.ENVIRONMENT_JOB_POLL_SECONDS
            else:
                image_id = found.image_id
            self.save(image_id=image_id)
            task.image_id = image_id
        info = aws.image_describe(credentials, region, task.image_id)
        if info is None:
            raise StepFailed("image_gone", f"Image {task.image_id} disappeared before it became available.")
        if info.state in choices.IMAGE_BROKEN_STATES:
            raise StepFailed("image_failed", f"EC2 could not create the image: {info.state_reason or info.state}")
        if info.state == "available":
            self.move(task, S.AVAILABLE, image_state=info.state, snapshot_ids=list(info.snapshot_ids), progress=100,
                      step="done", status_message=f"Image {info.image_id} is available")
            if task.schedule_id:
                retention_apply(schedule_id=task.schedule_id)
            return None
        self.save(image_state=info.state, snapshot_ids=list(info.snapshot_ids), progress=info.progress,
                  step=f"image {info.state}", status_message=f"EC2 is creating image {info.image_id} "
                                                             f"({info.progress}%)")
        return settings.ENVIRONMENT_JOB_POLL_SECONDS

    def delete(self, task: BackupTask):
        credentials, region = self.aws_of(task)
        try:
            aws.image_delete(credentials, region, task.image_id, task.snapshot_ids)
        except aws.AwsError as exc:
            self.move(task, S.AVAILABLE, step="deletion refused", error_code=choices.DELETE_REFUSED, status_message=(
                f"Could not delete image {task.image_id}: {exc.message}; retention tries again in an hour"
            )[:1000])
            return None
        self.move(task, S.DELETED, step="deleted", image_state="deregistered", status_message=(
            f"Image {task.image_id} and its snapshots were deleted ({task.status_message})")[:1000])
        return None

    # -- endings -------------------------------------------------------------------------------------------------

    @staticmethod
    def tags(task: BackupTask) -> dict[str, str]:
        tags = {"Name": task.image_name, choices.TOKEN_TAG: task.client_token, choices.BACKUP_TAG: str(task.pk),
                "aws-management-portal/environment-id": str(task.environment_id)}
        if task.schedule_id:
            tags[choices.SCHEDULE_TAG] = str(task.schedule_id)
        return tags

    def release(self, task: BackupTask) -> list[str]:
        """Deregister the image this job made, if any (found by its token when the id was never saved)."""
        try:
            credentials, region = self.aws_of(task)
            image_id = task.image_id
            if not image_id and task.state in (S.CREATING, S.CANCELLING):
                found = aws.image_find_by_tag(credentials, region, choices.TOKEN_TAG, task.client_token)
                image_id = found.image_id if found else ""
            if image_id:
                aws.image_delete(credentials, region, image_id, task.snapshot_ids)
        except (aws.AwsError, PortalError) as exc:
            return [exc.message]
        return []

    def fail(self, task: BackupTask, code: str, message: str) -> str:
        logger.warning("backup %s failed: %s: %s", task.pk, code, message)
        task = self.task()
        problems = self.release(task)
        suffix = f" (cleanup: {'; '.join(problems)})" if problems else ""
        failed = job_transition(BackupTask, task_id=task.pk, to=S.FAILED, epoch=self.epoch,
                                expected_from={S.QUEUED, S.CREATING}, step="failed", error_code=code[:100],
                                status_message=(message + suffix)[:1000])
        if failed is None:  # cancelled meanwhile: the image is released already, so finish the cancel
            current = self.task()
            if current.state != S.CANCELLING:
                return "done"
            try:
                self.finish_cancel(current, problems)
            except Moved:
                return "done"
            return "cancelled"
        return "failed"

    def finish_cancel(self, task: BackupTask, problems: list[str] | None = None):
        if problems is None:
            problems = self.release(task)
        suffix = f" (cleanup: {'; '.join(problems)})" if problems else ""
        self.move(task, S.CANCELLED, step="cancelled", status_message=(task.status_message + suffix)[:1000])
        return None
