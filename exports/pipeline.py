"""The worker side of an export: one tick claims the export's lease and drives it forward from its checkpoint.

exporting: find the AWS export task by the intent token saved with the row, or create it (CreateInstanceExportTask
has no client token, so the token is put on the task as a tag and in its description), then poll
DescribeExportTasks; on completion, read the object's size (HeadObject). cancelling: cancel the AWS task (found
by the token too, should its id not have been saved), wait until AWS has stopped, delete anything under the key.
Killed at any point, the next tick resumes from the row without a second AWS export task.
"""

from __future__ import annotations

import logging

from django.conf import settings

from adapters.aws import client as aws
from core.errors import PortalError
from core.jobs.retry import transient
from core.jobs.runner import StepFailed, StepRunner
from core.models import User
from core.peers import aws_credentials
from core.roles import Action
from exports.choices import (
    CONTAINER_FORMAT,
    DISK_IMAGE_FORMAT,
    INTENT_TAG,
    PHASE_PROGRESS,
    TARGET_ENVIRONMENT,
    ExportState,
)
from exports.models import ExportTask
from exports.services import export_bucket_repair
from exports.sweep import result_tags

logger = logging.getLogger("portal.exports.pipeline")
S = ExportState


def aws_task_name(task: ExportTask) -> str:
    # At most 255 characters (AWS); the token makes the task findable even where tags are not kept.
    return f"Migration portal export {task.pk} of {task.ec2_instance_id} ({INTENT_TAG}={task.intent_token})"


class ExportRunner(StepRunner):
    """An export's steps and release rules; the engine (core.jobs) drives them."""

    select_related = ("tenant", "region", "created_by")
    AUTHORIZED_STATES = frozenset({S.EXPORTING})

    def steps(self) -> dict:
        return {S.EXPORTING: self.export, S.CANCELLING: self.cancel}

    def unauthorized_message(self, task: ExportTask) -> str:
        return f"{task.created_by.get_username()} is no longer an administrator here, so the export was stopped."

    def authorized(self, task: ExportTask) -> bool:
        """Exports are for administrators: the one who started it must still be one (read fresh every step)."""
        user = User.objects.filter(pk=task.created_by_id).first()
        return ExportTask.objects.restrict(user, Action.ADMIN).filter(pk=task.pk).exists()

    # -- exporting -----------------------------------------------------------------------------------------------

    def export(self, task: ExportTask) -> float | None:
        credentials, region = aws_credentials(task.tenant), task.region.code
        if not task.export_task_id:
            started = aws.instance_export_find(credentials, region, tag_key=INTENT_TAG, tag_value=task.intent_token)
            if started is None:
                try:
                    started = self.start_export(task, credentials, region)
                except aws.AwsError as exc:
                    if exc.code == "ResourceLimitExceeded":  # exports started outside the portal: wait, never fail
                        self.save(step="waiting for an AWS export slot", status_message="Waiting: AWS allows only "
                                  "a few export tasks at once in this region")
                        return settings.EXPORT_POLL_SECONDS * 3
                    raise
            self.save(export_task_id=started.task_id, s3_key=started.key, aws_state=started.state,
                      step="export task started", status_message=f"AWS export task {started.task_id}")
            task.export_task_id = started.task_id
        info = aws.instance_export_describe(credentials, region, task.export_task_id)
        if info.state == "completed":
            size = aws.object_size(credentials, region, info.bucket, info.key)
            if size is None:
                raise StepFailed("object_missing", f"AWS reports the export complete, but s3://{info.bucket}/"
                                 f"{info.key} does not exist.")
            # The OVA is the customer's result: tagged before the job completes, so no orphan sweep ever takes it
            # for a leftover, even once the history retention has deleted this row.
            self.fence()
            aws.object_tag(credentials, region, info.bucket, info.key, result_tags(task))
            self.move(task, S.COMPLETED, s3_bucket=info.bucket, s3_key=info.key, size_bytes=size, progress=100,
                      aws_state=info.state, step="done", status_message=f"Exported to s3://{info.bucket}/{info.key}",
                      results_tagged=True)
            return None
        if info.state == "cancelled":
            raise StepFailed("export_failed", f"AWS ended the export: {info.status_message or 'cancelled'}")
        progress = PHASE_PROGRESS.get(info.status_message, task.progress)
        self.save(progress=progress, aws_state=info.state, s3_key=info.key or task.s3_key,
                  step=f"AWS: {info.status_message or info.state}",
                  status_message=f"Exporting: {info.status_message or info.state}")
        return settings.EXPORT_POLL_SECONDS

    def start_export(self, task: ExportTask, credentials, region: str) -> aws.ExportTaskInfo:
        def start() -> aws.ExportTaskInfo:
            self.fence()
            return aws.instance_export_start(
                credentials, region, instance_id=task.ec2_instance_id, bucket=task.s3_bucket, prefix=task.s3_prefix,
                target_environment=TARGET_ENVIRONMENT, disk_image_format=DISK_IMAGE_FORMAT,
                container_format=CONTAINER_FORMAT, description=aws_task_name(task),
                tags={INTENT_TAG: task.intent_token, "portal-export": str(task.pk), "portal-tenant": task.tenant.slug})

        try:
            return start()
        except aws.AwsError as exc:
            if exc.code != "AuthFailure":
                raise
            refusal = exc
        # VM Export may not write to the bucket (its grant was taken off): put the portal's set-up back, once.
        logger.warning("export %s: AWS refused s3://%s (%s); applying the bucket's set-up again", task.pk,
                       task.s3_bucket, refusal.message)
        self.save(step="repairing the export bucket", status_message=f"Giving VM Export its grant on "
                                                                      f"{task.s3_bucket} again")
        export_bucket_repair(task=task, refusal=refusal)
        try:
            return start()
        except aws.AwsError as exc:
            if exc.code != "AuthFailure":
                raise
            raise StepFailed("export_bucket_grant", (
                f"VM Export may not write to s3://{task.s3_bucket}/ even after the portal applied its grant again: "
                f"{exc.message} The bucket must grant the region's VM Export account WRITE and READ_ACP (or the "
                f"same in its bucket policy).")) from exc

    # -- cancelling ----------------------------------------------------------------------------------------------

    def cancel(self, task: ExportTask) -> float | None:
        """Cancel the AWS task and wait until AWS has stopped writing, then delete whatever is under its key."""
        try:
            credentials, region = aws_credentials(task.tenant), task.region.code
        except PortalError as exc:
            return self.finish_cancel(task, [exc.message])
        try:
            if not task.export_task_id:
                # The worker that created the task may have died before saving its id.
                found = aws.instance_export_find(credentials, region, tag_key=INTENT_TAG,
                                                 tag_value=task.intent_token)
                if found is None:
                    return self.finish_cancel(task, [])
                self.save(export_task_id=found.task_id, s3_key=found.key)
                task.export_task_id, task.s3_key = found.task_id, found.key
            self.fence()
            state = aws.instance_export_cancel(credentials, region, task.export_task_id)
        except aws.AwsError as exc:
            if transient(exc):
                raise  # retried from here after a backoff; the cancel is not given up for a throttle
            # A cancel always ends: what could not be released is said in the status.
            if exc.code != "InvalidExportTaskID.NotFound":
                return self.finish_cancel(task, [f"cancel export task: {exc.message}"])
            state = "cancelled"
        self.save(aws_state=state, step=f"AWS: {state}")
        if state in ("cancelling", "active"):
            # AWS is removing what it wrote, or is writing the final image and no longer cancels: either way the
            # object is not final yet; deleting it now could race the writer.
            return settings.EXPORT_POLL_SECONDS
        return self.finish_cancel(task, self.delete_objects(task, credentials, region))

    def delete_objects(self, task: ExportTask, credentials, region: str) -> list[str]:
        if not (task.s3_bucket and task.s3_key):
            return []
        self.fence()
        try:
            aws.objects_delete_under(credentials, region, task.s3_bucket, task.s3_key)
        except aws.AwsError as exc:
            return [f"delete s3://{task.s3_bucket}/{task.s3_key}: {exc.message}"]
        return []

    def finish_cancel(self, task: ExportTask, problems: list[str]) -> None:
        return self.end_cancel(task, problems, progress=0)

    # -- release rules -----------------------------------------------------------------------------------------

    def release(self, task: ExportTask) -> list[str]:
        """A failed export leaves nothing behind: its AWS task is cancelled and its partial object deleted."""
        try:
            credentials, region = aws_credentials(task.tenant), task.region.code
        except PortalError as exc:
            return [exc.message]
        problems = []
        if task.export_task_id:
            self.fence()
            try:
                aws.instance_export_cancel(credentials, region, task.export_task_id)
            except aws.AwsError as exc:
                if exc.code != "InvalidExportTaskID.NotFound":
                    problems.append(f"cancel export task: {exc.message}")
        return problems + self.delete_objects(task, credentials, region)
