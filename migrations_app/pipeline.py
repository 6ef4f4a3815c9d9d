"""The platform's side of a migration: one tick claims the job's lease and drives it forward from its checkpoint.

export (NFC lease) -> upload (disks streamed into S3 multipart uploads) -> convert (EC2 ImportImage) -> launch
(RunInstances, stopped) -> completed. The first two steps are the vCenter side: the tenant's connector agent runs
them beside its vCenter (migrations_app.agent_work hands them out under the same lease and epoch); here they only
wait for it. Every step can be interrupted at any point (kill -9 included) and run again: the lease moves on,
ImportImage and RunInstances carry ClientTokens saved before the first call, and a worker that lost its lease
cannot write (epoch fencing).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from adapters.aws import client as aws
from core.connectors.selectors import agent_last_contact, agents_serve
from core.errors import PortalError
from core.jobs.queue import schedule_tick
from core.jobs.runner import StepFailed, StepRunner
from core.models import User
from core.peers import aws_credentials
from core.roles import Action
from core.sweep import RESULT_TAG
from environments.models import Environment
from environments.services import instance_forget_imported, instance_record_imported
from migrations_app.choices import MigrationState, default_license_type, platform_of
from migrations_app.models import MigrationTask

GIB = 1024**3

logger = logging.getLogger("portal.migrations.pipeline")
S = MigrationState


def every_disk_has_a_volume(capacities: list[int], volume_sizes_gib: list[int]) -> bool:
    """Whether each disk can have a volume of its own of at least its capacity in whole GiB (an unknown capacity,
    0, takes any). Pairing the largest disk with the largest volume, and so on down, finds such an assignment
    whenever one exists."""
    volumes = sorted(volume_sizes_gib, reverse=True)
    disks = sorted(capacities, reverse=True)
    return len(volumes) >= len(disks) and all(volume * GIB >= disk for volume, disk in zip(volumes, disks))


def starter_may_migrate(task: MigrationTask) -> bool:
    """Authorization changes apply to running jobs too: before every step (and before a connector agent is handed
    the job) the starter and their tenant must still be active and the starter hold `general` on the environment
    (read fresh, never from a cache)."""
    user = User.objects.select_related("tenant").filter(
        pk=task.created_by_id, is_active=True, tenant__is_active=True).first()
    return user is not None and Environment.objects.restrict(user, Action.OPERATE).filter(
        pk=task.environment_id).exists()


def _size_text(size: int) -> str:
    return f"{size / GIB:.3g} GiB" if size >= GIB else f"{size / 2**20:.3g} MiB"


class MigrationRunner(StepRunner):
    """A migration's steps and release rules; the engine (core.jobs) drives them."""

    select_related = ("tenant", "region", "environment", "subnet", "security_group", "key_pair", "created_by")

    def steps(self) -> dict:
        return {S.EXPORTING: self.await_agent, S.UPLOADING: self.await_agent, S.CONVERTING: self.convert,
                S.LAUNCHING: self.launch, S.CANCELLING: self.release_until_done}

    def authorized(self, task: MigrationTask) -> bool:
        return starter_may_migrate(task)

    # -- steps ---------------------------------------------------------------------------------------------------

    def await_agent(self, task: MigrationTask):
        """The tenant's connector agents export and upload its disks (migrations_app.agent_work): the job waits for
        one to take it, saying whether they are online; an offline connector leaves it waiting, never failed."""
        last = agent_last_contact(task.tenant_id)
        offline_after = timezone.timedelta(seconds=3 * settings.AGENT_HEARTBEAT_SECONDS)
        if not agents_serve(task.tenant_id):
            self.save(step="waiting for the connector", status_message="No connector is registered for this "
                      "organisation: the migration waits until an administrator registers one (the Connector page)")
        elif last is None or timezone.now() - last > offline_after:
            since = f" since {timezone.localtime(last):%Y-%m-%d %H:%M}" if last else ""
            self.save(step="waiting for the connector", status_message=f"Connector offline{since}; the migration "
                      "waits for it and goes on when it is back")
        elif task.step != "waiting for the connector":
            self.save(step="waiting for the connector", status_message="Waiting for the connector to take it")
        # The tick ends here and gives the lease back, so that an agent may take the job at once; no wake_at is set
        # (it would hold agents off until then), only the next look at whether the connector is still online.
        schedule_tick(self.kind, self.job_id, timezone.now() + timezone.timedelta(seconds=settings.AGENT_STATUS_SECONDS))
        return "waiting"

    def convert(self, task: MigrationTask):
        credentials, region = aws_credentials(task.tenant), task.region.code
        if not task.import_task_id:
            importing = MigrationTask.objects.filter(region=task.region, state=S.CONVERTING).exclude(
                import_task_id="").count()
            if importing >= settings.MIGRATION_AWS_MAX_ACTIVE_IMPORTS:
                self.save(step="waiting for an AWS import slot",
                          status_message="Waiting: AWS allows only a few imports at once in this region")
                return settings.MIGRATION_POLL_SECONDS * 3
            self.fence()
            try:
                started = aws.import_image(
                    credentials, region, client_token=task.import_client_token, bucket=task.s3_bucket,
                    keys=[d["s3_key"] for d in task.disks], platform=platform_of(task.operating_system),
                    license_type=task.license_type or default_license_type(task.operating_system),
                    description=f"{task.vm_name} (portal migration {task.pk})", tags=_resource_tags(task),
                    boot_mode=task.boot_mode)
            except aws.AwsError as exc:
                if exc.code == "ResourceLimitExceeded":
                    self.save(step="waiting for an AWS import slot",
                              status_message="Waiting: AWS reports its limit of active imports in this region")
                    return settings.MIGRATION_POLL_SECONDS * 3
                raise
            self.save(import_task_id=started.task_id)
            task.import_task_id = started.task_id
        status = aws.import_image_describe(credentials, region, task.import_task_id)
        if status.status == "completed" and status.image_id:
            # ImportImage tags only its task: the image and snapshots it registered get the job's tags here, so
            # an orphan sweep finds them whatever becomes of this row.
            detail = aws.import_image_detail(credentials, region, task.import_task_id)
            self.fence()
            aws.resources_tag(credentials, region, [status.image_id, *(detail.snapshot_ids if detail else ())],
                              _resource_tags(task))
            self.move(task, S.LAUNCHING, image_id=status.image_id, conversion_progress=100, step="launching",
                      status_message=f"Image {status.image_id} ready; launching the instance")
            return None
        if status.status in ("deleted", "deleting"):
            raise StepFailed("import_failed", f"EC2 could not import the image: {status.status_message}")
        self.save(conversion_progress=status.progress, step=f"AWS: {status.status_message or status.status}",
                  status_message=f"Converting: {status.status_message or status.status} ({status.progress}%)")
        return settings.MIGRATION_POLL_SECONDS

    def launch(self, task: MigrationTask):
        credentials, region = aws_credentials(task.tenant), task.region.code
        if not task.instance_id:
            self.fence()
            info = aws.run_instance(
                credentials, region, client_token=task.run_client_token, image_id=task.image_id,
                instance_type=task.instance_type, subnet_id=task.subnet.subnet_id,
                security_group_id=task.security_group.group_id, private_ip=task.private_ip or "",
                key_name=task.key_pair.name if task.key_pair else "",
                tags={"Name": task.vm_name, **_resource_tags(task),
                      "aws-management-portal/environment-id": str(task.environment_id)})
            self.save(instance_id=info.instance_id)
            task.instance_id = info.instance_id
        info = aws.instance_wait_not_pending(credentials, region, task.instance_id)
        sizes = aws.volume_sizes(credentials, region, info.volume_ids)
        capacities = [d["size"] for d in task.disks]
        if not every_disk_has_a_volume(capacities, sizes):
            # An instance without every disk of the VM is not the VM: failing releases it and its image.
            raise StepFailed("instance_disks_missing", (
                f"The launched instance {task.instance_id} lacks a disk of the VM: it has {len(sizes)} volume(s) "
                f"({', '.join(f'{n} GiB' for n in sizes) or 'none'}) for the VM's {len(capacities)} disk(s) "
                f"({', '.join(_size_text(c) if c else 'size unknown' for c in capacities)})."))
        if info.state == "running":
            self.fence()
            aws.instance_power(credentials, region, task.instance_id, "stop")
            info = aws.instance_describe(credentials, region, task.instance_id)
        s3 = aws.client("s3", credentials, region)
        self.fence()
        for disk in task.disks:
            if disk.get("s3_key"):
                aws.object_delete(s3, task.s3_bucket, disk["s3_key"])
        # The instance, its image and the image's snapshots are the customer's results: tagged before the job
        # completes, so no orphan sweep takes them for leftovers, even once the history retention deleted the row.
        image = aws.image_describe(credentials, region, task.image_id)
        results = [task.instance_id, task.image_id, *(image.snapshot_ids if image else ())]
        aws.resources_tag(credentials, region, results, {RESULT_TAG: f"migration-{task.pk}", **_resource_tags(task)})
        # The record and the completion commit together: a cancel that wins the race rolls the record back, so
        # a cancelled migration never leaves a row for the instance its cleanup terminates.
        with transaction.atomic():
            instance_record_imported(
                actor=task.created_by, environment=task.environment, instance_id=task.instance_id,
                image_id=task.image_id, instance_type=task.instance_type, private_ip=info.private_ip,
                state=info.state, source_vm_moref=task.vm_moref, source_vm_name=task.vm_name)
            self.move(task, S.COMPLETED, step="done", results_tagged=True,
                      status_message=f"Imported as {task.instance_id} (stopped; start it when ready)")
        return None

    # -- release rules -------------------------------------------------------------------------------------------

    def unauthorized_message(self, task: MigrationTask) -> str:
        return (f"{task.created_by.get_username()} no longer may migrate into this environment (grant revoked, or the "
                "account or its organisation deactivated), so the migration was stopped and everything it held was "
                "released.")

    def release(self, task: MigrationTask) -> list[str]:
        """Release what the job holds and return what is still there (empty once everything is confirmed gone):
        the export lease, staged disks and multipart uploads under the job's prefix, its import task (cancelled,
        or the image and snapshots it made removed), and any instance it launched, found by the job's tag even if
        its id was never saved. Every call is idempotent, so a cleanup cut short simply runs again."""
        # The export lease is the agent's: it gives it back when its job stops (a cancel answers its next call with
        # lease_lost), its successor aborts it before opening its own, and vCenter ends one no longer renewed.
        remaining: list[str] = []
        try:
            credentials, region = aws_credentials(task.tenant), task.region.code
        except PortalError as exc:
            # Without the tenant's AWS access nothing there can be released by us; say so and keep trying.
            return remaining + [f"everything in AWS ({exc.message})"]
        steps = [("the staged disks in S3", self._release_staged_disks),
                 ("the import task and the image it made", self._release_import),
                 ("the instance it launched", self._release_instances)]
        for what, release in steps:
            try:
                remaining += release(task, credentials, region)
            except aws.AwsError as exc:
                logger.warning("migration %s: releasing %s failed: %s", task.pk, what, exc)
                remaining.append(f"{what} (AWS: {exc.code})")
        return remaining

    def _release_staged_disks(self, task, credentials, region) -> list[str]:
        if not task.s3_bucket:
            return []
        prefix = f"{task.tenant.slug}/migration-{task.pk}/"
        self.fence()
        for upload in aws.multipart_uploads_list(credentials, region, task.s3_bucket, prefix):
            aws.multipart_abort_upload(credentials, region, task.s3_bucket, upload.key, upload.upload_id)
        for stored in aws.objects_list(credentials, region, task.s3_bucket, prefix):
            aws.object_remove(credentials, region, task.s3_bucket, stored.key)
        left = (len(aws.multipart_uploads_list(credentials, region, task.s3_bucket, prefix))
                + len(aws.objects_list(credentials, region, task.s3_bucket, prefix)))
        return [f"{left} staged object(s) in s3://{task.s3_bucket}/{prefix}"] if left else []

    def _release_import(self, task, credentials, region) -> list[str]:
        task_ids = {task.import_task_id} - {""}
        # An import started by a worker that died before saving its id carries the job's tag.
        task_ids |= {t.task_id for t in aws.import_tasks_by_tag(credentials, region, "portal-migration", str(task.pk))}
        remaining: list[str] = []
        images = {task.image_id: ()} if task.image_id else {}
        for task_id in sorted(task_ids):
            detail = aws.import_image_detail(credentials, region, task_id)
            if detail is None or detail.status in ("deleting", "deleted"):
                continue  # gone, or cancelled and on its way out: a cancelled import makes no image
            if detail.status == "completed":
                if detail.image_id:
                    images[detail.image_id] = detail.snapshot_ids
                continue
            self.fence()
            aws.import_image_cancel(credentials, region, task_id)
            after = aws.import_image_detail(credentials, region, task_id)
            if after is not None and after.status == "completed" and after.image_id:
                images[after.image_id] = after.snapshot_ids  # it finished just before the cancel
            elif after is not None and after.status not in ("deleting", "deleted"):
                remaining.append(f"import task {task_id}")
        for image_id, snapshot_ids in images.items():
            image = aws.image_describe(credentials, region, image_id)
            snapshot_ids = set(snapshot_ids) | set(image.snapshot_ids if image else ())
            self.fence()
            aws.image_delete(credentials, region, image_id, snapshot_ids)
            if aws.image_describe(credentials, region, image_id) is not None:
                remaining.append(f"image {image_id}")
            remaining += [f"snapshot {s}" for s in sorted(snapshot_ids) if aws.snapshot_exists(credentials, region, s)]
        return remaining

    def _release_instances(self, task, credentials, region) -> list[str]:
        # Found by the job's tag (set in the RunInstances call itself) as well as by the saved id: a worker that
        # crashed between RunInstances and saving the id left an instance only the tag leads to.
        found = {i.instance_id for i in aws.instances_by_tag(credentials, region, "portal-migration", str(task.pk))}
        if task.instance_id:
            found.add(task.instance_id)
        remaining: list[str] = []
        for instance_id in sorted(found):
            self.fence()
            aws.instance_terminate(credentials, region, instance_id)
            try:
                state = aws.instance_describe(credentials, region, instance_id).state
            except aws.AwsError as exc:
                if not exc.code.startswith("InvalidInstanceID"):
                    raise
                state = "terminated"
            if state not in ("shutting-down", "terminated"):
                remaining.append(f"instance {instance_id} ({state})")
                continue
            instance_forget_imported(actor=None, environment=task.environment, instance_id=instance_id)
        return remaining


def _resource_tags(task: MigrationTask) -> dict[str, str]:
    """On every AWS resource a migration makes, so that an orphan sweep can tie it to its job and tenant."""
    return {"portal-migration": str(task.pk), "portal-tenant": task.tenant.slug}
