"""The steps of a backup: (admitted) creating (CreateImage, then DescribeImages until the image is
available) -> available, then the schedule's retention; `cancelling` and `deleting` release an image and its
snapshots. Killed at any point, the next tick resumes: the image is found by the job's token tag before any
CreateImage, so a crash between CreateImage and saving its id never makes a second image."""

from __future__ import annotations

import logging

from django.conf import settings

from adapters.aws import client as aws
from core.errors import PortalError
from core.jobs.retry import transient
from core.jobs.runner import StepFailed, StepRunner
from core.peers import aws_credentials
from environments.selectors import still_operates
from lifecycle.backups import choices
from lifecycle.backups.choices import BackupState
from lifecycle.backups.models import BackupTask
from lifecycle.backups.retention import retention_apply

logger = logging.getLogger("portal.lifecycle.backups")
S = BackupState


class BackupRunner(StepRunner):
    """A backup's steps and release rules; the engine (core.jobs) drives them."""

    AUTHORIZED_STATES = frozenset({S.CREATING})
    select_related = ("tenant", "environment__region", "instance", "created_by")

    def steps(self) -> dict:
        return {S.CREATING: self.create, S.CANCELLING: self.finish_cancel, S.DELETING: self.delete}

    def authorized(self, task: BackupTask) -> bool:
        return still_operates(task)

    def unauthorized_message(self, task: BackupTask) -> str:
        return (f"{task.created_by.get_username()} no longer holds the general role on this environment (grant "
                "revoked or account deactivated), so the job was stopped.")

    @staticmethod
    def aws_of(task: BackupTask):
        return aws_credentials(task.tenant), task.environment.region.code

    # -- steps ---------------------------------------------------------------------------------------------------

    def create(self, task: BackupTask):
        credentials, region = self.aws_of(task)
        if not task.image_id:
            found = aws.image_find_by_tag(credentials, region, choices.TOKEN_TAG, task.client_token)
            if found is None:
                self.fence()
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
        self.fence()
        try:
            aws.image_delete(credentials, region, task.image_id, task.snapshot_ids)
        except aws.AwsError as exc:
            if transient(exc):
                raise  # retried after a backoff, not counted as AWS refusing the deletion
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
        """Deregister the image this job made, if any (found by its token when the id was never saved), and delete
        its snapshots."""
        try:
            credentials, region = self.aws_of(task)
            image_id, snapshot_ids = task.image_id, set(task.snapshot_ids)
            if not image_id and task.state in (S.CREATING, S.CANCELLING):
                found = aws.image_find_by_tag(credentials, region, choices.TOKEN_TAG, task.client_token)
                image_id = found.image_id if found else ""
            if image_id:
                image = aws.image_describe(credentials, region, image_id)
                snapshot_ids |= set(image.snapshot_ids if image else ())
                if image_id != task.image_id or snapshot_ids != set(task.snapshot_ids):
                    # Saved before anything is destroyed: a deregistered image is found by its tag no more, so a
                    # worker killed between deregistering it and deleting its snapshots must leave their ids here.
                    self.save(image_id=image_id, snapshot_ids=sorted(snapshot_ids))
                self.fence()
                aws.image_delete(credentials, region, image_id, sorted(snapshot_ids))
            for snapshot_id in sorted(snapshot_ids) if not image_id else ():
                self.fence()
                aws.snapshot_delete(credentials, region, snapshot_id)
        except (aws.AwsError, PortalError) as exc:
            return [exc.message]
        return []

    def finish_cancel(self, task: BackupTask):
        return self.end_cancel(task, self.release(task))
