"""What migrations left behind in one tenant's AWS account and region, found and removed.

A worker releases what its job holds when the job fails or is cancelled, but a crash between an AWS call and the
checkpoint that records it (ImportImage answered, the id not yet saved), or a cleanup that AWS refused, leaves
resources no row names. This pass finds them by what the portal puts on them: keys under
`<tenant>/migration-<id>/` in the tenant's staging buckets, and the `portal-migration` / `portal-tenant` tags on
import tasks, instances, images and snapshots. It removes a resource only when

* its migration ended (failed, cancelled or completed) before the cutoff, or its row is gone; a live migration
  (queued, running, cancelling) keeps everything;
* the resource itself is older than the cutoff (where AWS says when it was made);
* it is not a result: anything carrying the `portal-result` tag (written on a completed migration's instance,
  image and snapshots when it completes, so the answer does not depend on the row, which the history retention
  deletes), a completed migration's instance and image, or any instance or image recorded as an ImportedInstance
  of the tenant;
* it is the tenant's: a tag naming another tenant, or a migration of another tenant, is left alone, and an
  instance or image whose migration row is gone counts as the tenant's only through a `portal-tenant` tag.
"""

from __future__ import annotations

import re

from adapters.aws import client as aws
from core.sweep import RESULT_TAG, SweepPass
from environments.models import ImportedInstance
from migrations_app.choices import TERMINAL, MigrationState
from migrations_app.models import MigrationTask
from migrations_app.staging import staging_bucket_name

MIGRATION_TAG, TENANT_TAG = "portal-migration", "portal-tenant"


class _Jobs:
    """The tenant's migrations as the sweep needs them, read once per pass."""

    def __init__(self, sweep: SweepPass):
        self.sweep = sweep
        self.tenant = sweep.tenant
        self._rows: dict[int, MigrationTask | None] = {}
        kept = ImportedInstance.objects.filter(tenant=self.tenant).values_list("instance_id", "image_id")
        self.kept_instances = {i for i, _ in kept if i}
        self.kept_images = {m for _, m in kept if m}
        done = MigrationTask.objects.filter(tenant=self.tenant, state=MigrationState.COMPLETED).values_list(
            "instance_id", "image_id")
        self.kept_instances |= {i for i, _ in done if i}
        self.kept_images |= {m for _, m in done if m}
        # Results by their tag: the rows that named them may be gone.
        credentials, region = sweep.credentials, sweep.region
        self.kept_instances |= {r.resource_id for r in aws.instances_by_tag_key(credentials, region, RESULT_TAG)}
        self.kept_images |= {r.resource_id for r in aws.images_by_tag_key(credentials, region, RESULT_TAG)}
        self.kept_snapshots = {r.resource_id for r in aws.snapshots_by_tag_key(credentials, region, RESULT_TAG)}

    def row(self, pk: int | None) -> MigrationTask | None:
        if pk is None:
            return None
        if pk not in self._rows:
            # Another tenant's migration is never this tenant's to judge: only the tenant's own rows are read.
            self._rows[pk] = MigrationTask.objects.filter(tenant=self.tenant, pk=pk).first()
        return self._rows[pk]

    def exists_elsewhere(self, pk: int) -> bool:
        return MigrationTask.objects.filter(pk=pk).exclude(tenant=self.tenant).exists()

    def released(self, pk: int | None) -> bool:
        """The migration ended before the cutoff, or its row is gone (deleted with the history)."""
        row = self.row(pk)
        if row is None:
            return pk is not None and not self.exists_elsewhere(pk)
        return row.state in TERMINAL and self.sweep.old_enough(row.finished_at or row.updated_at)

    @staticmethod
    def label(pk) -> str:
        return f"migration {pk}"


def _pk(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _tag_untagged_results(sweep: SweepPass) -> None:
    """Completed migrations of this tenant and region whose results do not carry the result tag yet (completed
    before it existed): tag them, and only then may the history retention delete the row."""
    for task in MigrationTask.objects.filter(tenant=sweep.tenant, region__code=sweep.region,
                                             state=MigrationState.COMPLETED, results_tagged=False):
        if sweep.dry_run:
            continue
        try:
            image = aws.image_describe(sweep.credentials, sweep.region, task.image_id) if task.image_id else None
            aws.resources_tag(sweep.credentials, sweep.region,
                              [task.instance_id, task.image_id, *(image.snapshot_ids if image else ())],
                              {RESULT_TAG: f"migration-{task.pk}", MIGRATION_TAG: str(task.pk),
                               TENANT_TAG: sweep.tenant.slug})
        except aws.AwsError:
            continue  # refused or gone: the row stays (retention waits for the tag), the next pass tries again
        MigrationTask.objects.filter(pk=task.pk).update(results_tagged=True)


def migration_sweep(sweep: SweepPass) -> None:
    _tag_untagged_results(sweep)
    jobs = _Jobs(sweep)
    _sweep_staging(sweep, jobs)
    _sweep_imports(sweep, jobs)
    _sweep_instances(sweep, jobs)
    _sweep_images(sweep, jobs)


def _staging_buckets(sweep: SweepPass) -> set[str]:
    buckets = {staging_bucket_name(sweep.tenant, sweep.region)}
    buckets |= set(MigrationTask.objects.filter(tenant=sweep.tenant, region__code=sweep.region).exclude(
        s3_bucket="").values_list("s3_bucket", flat=True).distinct())
    return buckets


def _sweep_staging(sweep: SweepPass, jobs: _Jobs) -> None:
    prefix = f"{sweep.tenant.slug}/migration-"
    owner = re.compile(rf"^{re.escape(prefix)}(\d+)/")
    for bucket in sorted(_staging_buckets(sweep)):
        for upload in aws.multipart_uploads_list(sweep.credentials, sweep.region, bucket, prefix):
            match = owner.match(upload.key)
            pk = int(match.group(1)) if match else None
            if pk is not None and jobs.released(pk) and sweep.old_enough(upload.initiated):
                sweep.remove(kind="multipart_upload", resource=f"s3://{bucket}/{upload.key}#{upload.upload_id}",
                             job=jobs.row(pk), job_label=jobs.label(pk), reason="unfinished upload of an ended job",
                             action=aws.multipart_abort_upload,
                             args=(sweep.credentials, sweep.region, bucket, upload.key, upload.upload_id))
        for obj in aws.objects_list(sweep.credentials, sweep.region, bucket, prefix):
            match = owner.match(obj.key)
            pk = int(match.group(1)) if match else None
            if pk is not None and jobs.released(pk) and sweep.old_enough(obj.last_modified):
                sweep.remove(kind="staged_object", resource=f"s3://{bucket}/{obj.key}", job=jobs.row(pk),
                             job_label=jobs.label(pk), reason="staged disk of an ended job",
                             action=aws.object_remove, args=(sweep.credentials, sweep.region, bucket, obj.key))


def _sweep_imports(sweep: SweepPass, jobs: _Jobs) -> None:
    for task in aws.import_tasks_by_tag(sweep.credentials, sweep.region, TENANT_TAG, sweep.tenant.slug):
        pk = _pk(task.tags.get(MIGRATION_TAG))
        if pk is None or not jobs.released(pk):
            continue
        row = jobs.row(pk)
        if task.status == "active":
            sweep.remove(kind="import_task", resource=task.task_id, job=row, job_label=jobs.label(pk),
                         reason="import of an ended job still running", action=aws.import_image_cancel,
                         args=(sweep.credentials, sweep.region, task.task_id))
        elif task.status == "completed" and task.image_id and task.image_id not in jobs.kept_images and \
                not set(task.snapshot_ids) & jobs.kept_snapshots:
            _remove_image(sweep, jobs, pk, task.image_id, task.snapshot_ids,
                          reason=f"image of import {task.task_id} that no migration kept")


def _remove_image(sweep: SweepPass, jobs: _Jobs, pk: int, image_id: str, snapshot_ids, reason: str) -> None:
    image = aws.image_describe(sweep.credentials, sweep.region, image_id)
    if image is not None:
        sweep.remove(kind="image", resource=image_id, job=jobs.row(pk), job_label=jobs.label(pk), reason=reason,
                     action=aws.image_delete, args=(sweep.credentials, sweep.region, image_id,
                                                    tuple(snapshot_ids) + image.snapshot_ids))
        return
    # The image went but a crash may have left its snapshots (deregistered, snapshots not yet deleted).
    for snapshot_id in snapshot_ids:
        if _snapshot_exists(sweep, snapshot_id):
            sweep.remove(kind="snapshot", resource=snapshot_id, job=jobs.row(pk), job_label=jobs.label(pk),
                         reason=f"snapshot of deregistered image {image_id}", action=aws.snapshot_delete,
                         args=(sweep.credentials, sweep.region, snapshot_id))


def _snapshot_exists(sweep: SweepPass, snapshot_id: str) -> bool:
    try:
        return aws.snapshot_exists(sweep.credentials, sweep.region, snapshot_id)
    except aws.AwsError:
        return False


def _owned(jobs: _Jobs, tags: dict[str, str]) -> int | None:
    """The migration a tagged instance or image belongs to, if it is this tenant's."""
    pk = _pk(tags.get(MIGRATION_TAG))
    if pk is None or tags.get(TENANT_TAG, jobs.tenant.slug) != jobs.tenant.slug:
        return None
    if jobs.row(pk) is None and tags.get(TENANT_TAG) != jobs.tenant.slug:
        return None  # no row and no tenant tag: nothing says it is this tenant's
    return pk


def _remove_unkept(sweep: SweepPass, jobs: _Jobs, resources, kept, *, kind: str, action, more_args=None) -> None:
    """Removes the tagged `resources` of released migrations that did not keep them, once they are old enough;
    `action` is called with the credentials, the region, the resource's id and `more_args(resource)`."""
    for resource in resources:
        pk = _owned(jobs, resource.tags)
        if pk is None or resource.resource_id in kept or not jobs.released(pk):
            continue
        if sweep.old_enough(resource.created):
            sweep.remove(kind=kind, resource=resource.resource_id, job=jobs.row(pk), job_label=jobs.label(pk),
                         reason=f"{kind} of a migration that did not keep it", action=action,
                         args=(sweep.credentials, sweep.region, resource.resource_id,
                               *(more_args(resource) if more_args else ())))


def _sweep_instances(sweep: SweepPass, jobs: _Jobs) -> None:
    _remove_unkept(sweep, jobs, aws.instances_by_tag_key(sweep.credentials, sweep.region, MIGRATION_TAG),
                   jobs.kept_instances, kind="instance", action=aws.instance_terminate)


def _sweep_images(sweep: SweepPass, jobs: _Jobs) -> None:
    _remove_unkept(sweep, jobs, aws.images_by_tag_key(sweep.credentials, sweep.region, MIGRATION_TAG),
                   jobs.kept_images, kind="image", action=aws.image_delete,
                   more_args=lambda image: (image.snapshot_ids,))
    for snapshot in aws.snapshots_by_tag_key(sweep.credentials, sweep.region, MIGRATION_TAG):
        pk = _owned(jobs, snapshot.tags)
        if pk is None or not jobs.released(pk) or not sweep.old_enough(snapshot.created):
            continue
        if snapshot.resource_id in jobs.kept_snapshots or (
                jobs.row(pk) is not None and jobs.row(pk).state == MigrationState.COMPLETED):
            continue  # a result, or it may back the completed migration's image
        sweep.remove(kind="snapshot", resource=snapshot.resource_id, job=jobs.row(pk), job_label=jobs.label(pk),
                     reason="snapshot of a migration that did not keep it", action=aws.snapshot_delete,
                     args=(sweep.credentials, sweep.region, snapshot.resource_id))
