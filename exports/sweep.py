"""What exports left behind in one tenant's AWS account and region, found and removed.

Every AWS export task the portal starts carries `portal-export` and `portal-tenant` tags. An export task whose
job is gone (its row deleted with the history) or ended without keeping the object (failed, cancelled, or a second
AWS task of a completed job) is cancelled if AWS still runs it, and its object (and any unfinished upload of it)
is deleted. A completed export's object is the result and stays: it carries the `portal-result` tag, written when
the export completed, which no pass removes whether the row exists or not. A live export keeps everything.
Completed exports whose object was not tagged yet (completed before the tag existed) are tagged by the pass.
"""

from __future__ import annotations

from adapters.aws import client as aws
from core.sweep import RESULT_TAG, SweepPass
from exports.choices import TERMINAL, ExportState
from exports.models import ExportTask

EXPORT_TAG, TENANT_TAG = "portal-export", "portal-tenant"


def result_tags(task: ExportTask) -> dict[str, str]:
    return {RESULT_TAG: f"export-{task.pk}", EXPORT_TAG: str(task.pk), TENANT_TAG: task.tenant.slug}


def _tag_untagged_results(sweep: SweepPass) -> None:
    """Completed exports of this tenant and region whose OVA does not carry the result tag yet: tag it (and only
    then may the history retention delete the row)."""
    untagged = ExportTask.objects.filter(tenant=sweep.tenant, region__code=sweep.region, state=ExportState.COMPLETED,
                                         results_tagged=False).exclude(s3_key="")
    for task in untagged:
        if sweep.dry_run:
            continue
        try:
            aws.object_tag(sweep.credentials, sweep.region, task.s3_bucket, task.s3_key, result_tags(task))
        except aws.AwsError:
            continue  # gone or refused: the row stays (retention waits for the tag), the next pass tries again
        ExportTask.objects.filter(pk=task.pk).update(results_tagged=True)


def export_sweep(sweep: SweepPass) -> None:
    _tag_untagged_results(sweep)
    for info in aws.export_tasks_by_tag(sweep.credentials, sweep.region, TENANT_TAG, sweep.tenant.slug):
        pk = info.tags.get(EXPORT_TAG, "")
        if not pk.isdigit():
            continue
        row = ExportTask.objects.filter(tenant=sweep.tenant, pk=int(pk)).first()
        if row is None and ExportTask.objects.filter(pk=int(pk)).exists():
            continue  # another tenant's job: never this tenant's to judge
        if row is not None:
            if row.state not in TERMINAL or not sweep.old_enough(row.finished_at or row.updated_at):
                continue
            if row.state == ExportState.COMPLETED and row.export_task_id == info.task_id:
                continue  # the result
        label = f"export {pk}"
        if info.state == "active":
            sweep.remove(kind="export_task", resource=info.task_id, job=row, job_label=label,
                         reason="export task of an ended job still running", action=aws.instance_export_cancel,
                         args=(sweep.credentials, sweep.region, info.task_id))
            continue  # AWS removes what it wrote when the cancel ends; a later pass deletes anything left
        if info.state == "cancelling" or not (info.bucket and info.key):
            continue
        for upload in aws.multipart_uploads_list(sweep.credentials, sweep.region, info.bucket, info.key):
            if upload.key == info.key and sweep.old_enough(upload.initiated):
                sweep.remove(kind="export_upload", resource=f"s3://{info.bucket}/{upload.key}#{upload.upload_id}",
                             job=row, job_label=label, reason="unfinished upload of an ended export",
                             action=aws.multipart_abort_upload,
                             args=(sweep.credentials, sweep.region, info.bucket, upload.key, upload.upload_id))
        for obj in aws.objects_list(sweep.credentials, sweep.region, info.bucket, info.key):
            if obj.key == info.key and sweep.old_enough(obj.last_modified):
                if RESULT_TAG in aws.object_tags(sweep.credentials, sweep.region, info.bucket, obj.key):
                    continue  # a completed export's result, whether its row still exists or not
                reason = "object of a deleted export" if row is None else f"object of a {row.state} export"
                sweep.remove(kind="export_object", resource=f"s3://{info.bucket}/{obj.key}", job=row,
                             job_label=label, reason=reason, action=aws.object_remove,
                             args=(sweep.credentials, sweep.region, info.bucket, obj.key))
