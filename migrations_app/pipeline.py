"""The worker side of a migration: one tick claims the job's lease and drives it forward from its checkpoint.

export (NFC lease) -> upload (disks streamed into S3 multipart uploads) -> convert (EC2 ImportImage) -> launch
(RunInstances, stopped) -> completed. Every step can be interrupted at any point (kill -9 included) and run again:
the lease moves to the next worker, parts already in S3 are skipped (ListParts), ImportImage and RunInstances
carry ClientTokens saved before the first call, and a worker that lost its lease cannot write (epoch fencing).
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from adapters.aws import client as aws
from adapters.vsphere import client as vsphere
from core.connectors.selectors import agent_last_contact, agents_serve
from core.errors import PortalError
from core.jobs.queue import schedule_tick
from core.jobs.runner import StepFailed, StepRunner
from core.models import User
from core.peers import aws_credentials, vcenter_connection
from core.roles import Action
from core.sweep import RESULT_TAG
from environments.models import Environment
from environments.services import instance_forget_imported, instance_record_imported
from connector import datapath
from migrations_app.choices import MAX_DISK_STREAM_BYTES, MigrationState, default_license_type, platform_of
from migrations_app.models import MigrationTask
from migrations_app.staging import MAX_UPLOADS_LOST, disk_upload_start, staging_bucket_name

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

    def __init__(self, *args):
        super().__init__(*args)
        self._vc: vsphere.VCenterSession | None = None
        self.lease: vsphere.ExportLease | None = None

    def steps(self) -> dict:
        return {S.EXPORTING: self.export, S.UPLOADING: self.upload, S.CONVERTING: self.convert,
                S.LAUNCHING: self.launch, S.CANCELLING: self.release_until_done}

    def vc(self, task: MigrationTask) -> vsphere.VCenterSession:
        if self._vc is None:
            self._vc = vsphere.VCenterSession(vcenter_connection(task.tenant))
        return self._vc

    def close(self):
        if self._vc is not None:
            self._vc.close()

    def before_retry(self, task: MigrationTask) -> None:
        # The VM is not held through the export lease while the job waits for its retry.
        self.abort_export_lease(task, "retrying from the checkpoint")

    def abort_export_lease(self, task: MigrationTask, why: str) -> bool:
        """Release the NFC lease (so the VM is not held while the job waits); True once none is held."""
        moref = MigrationTask.objects.filter(pk=self.job_id).values_list("nfc_lease_moref", flat=True).get()
        if not moref or agents_serve(task.tenant_id):
            # An agent's export lease is the agent's: it gives it back when it stops, its successor aborts it
            # before opening its own, and vCenter ends one that is no longer renewed.
            return True
        self.fence()
        try:
            self.vc(task).lease_abort(moref, why)
            # lease_abort takes any refusal for "already finished": confirm it (an expired session, say, aborts
            # nothing and makes this read fail too).
            held = self.vc(task).lease_describe(moref).state in ("initializing", "ready")
        except (vsphere.VSphereError, PortalError) as exc:
            logger.warning("migration %s: export lease %s not released: %s", task.pk, moref, exc)
            return False
        if held:
            return False
        self.lease = None
        self.save(nfc_lease_moref="")
        return True

    def authorized(self, task: MigrationTask) -> bool:
        return starter_may_migrate(task)

    # -- steps ---------------------------------------------------------------------------------------------------

    def _open_lease(self, task: MigrationTask) -> vsphere.ExportLease:
        vc = self.vc(task)
        self.fence()
        if task.nfc_lease_moref:
            vc.lease_abort(task.nfc_lease_moref, "superseded by a new export attempt")  # an earlier attempt's
        self.save(step="waiting for the export lease")
        self.fence()
        lease_moref = vc.export_start(task.vm_moref)
        self.save(nfc_lease_moref=lease_moref)
        return vc.lease_wait_ready(lease_moref, timeout=300)

    def await_agent(self, task: MigrationTask):
        """The tenant's connector agents export and upload its disks (migrations_app.agent_work): the job waits for
        one to take it, saying whether they are online; an offline connector leaves it waiting, never failed."""
        last = agent_last_contact(task.tenant_id)
        offline_after = timezone.timedelta(seconds=3 * settings.AGENT_HEARTBEAT_SECONDS)
        if last is None or timezone.now() - last > offline_after:
            since = f" since {timezone.localtime(last):%Y-%m-%d %H:%M}" if last else ""
            self.save(step="waiting for the connector", status_message=f"Connector offline{since}; the migration "
                      "waits for it and goes on when it is back")
        elif task.step != "waiting for the connector":
            self.save(step="waiting for the connector", status_message="Waiting for the connector to take it")
        # The tick ends here and gives the lease back, so that an agent may take the job at once; no wake_at is set
        # (it would hold agents off until then), only the next look at whether the connector is still online.
        schedule_tick(self.kind, self.job_id, timezone.now() + timezone.timedelta(seconds=settings.AGENT_STATUS_SECONDS))
        return "waiting"

    def export(self, task: MigrationTask):
        if agents_serve(task.tenant_id):
            return self.await_agent(task)
        vc = self.vc(task)
        vm = vc.get_vm(task.vm_moref)
        if vm.power_state != "poweredOff":
            if not task.power_off_requested:
                raise StepFailed("vm_powered_on", f"{vm.name} was powered on again before the export started.")
            self.save(step="powering off", status_message=f"Powering off {vm.name}")
            self.fence()
            vc.power_off(task.vm_moref)
        self.lease = self._open_lease(task)
        devices = [d for d in self.lease.devices if d.disk]
        if not devices:
            raise StepFailed("no_disks", "vCenter offered no disks to export.")
        # A disk's size here is its capacity: vCenter gives no stream length (fileSize is unset for disks), and the
        # capacity bounds the stream, sizes its parts and is what progress is measured against.
        capacities = datapath.capacity_bounds([d.capacity_bytes for d in devices], self.lease.total_capacity_bytes)
        disks = task.disks or [{"device_key": d.key, "size": capacity, "s3_key": "", "upload_id": "",
                                "part_size": 0, "done": False} for d, capacity in zip(devices, capacities)]
        self.move(task, S.UPLOADING, disks=disks, bytes_total=sum(d["size"] for d in disks),
                  step="exporting disks", status_message=f"Exporting and uploading {len(disks)} disk(s)")
        return None

    def upload(self, task: MigrationTask):
        if agents_serve(task.tenant_id):
            return self.await_agent(task)
        vc = self.vc(task)
        if self.lease is None or self.lease.moref != task.nfc_lease_moref:
            self.lease = self._open_lease(task)  # resuming: the old lease died with the old worker
        devices = {d.key: d for d in self.lease.devices if d.disk}
        credentials, region = aws_credentials(task.tenant), task.region.code
        bucket = task.s3_bucket or staging_bucket_name(task.tenant, region)
        if not task.s3_bucket:
            aws.staging_bucket_ensure(credentials, region, bucket)
            self.save(s3_bucket=bucket)
        s3 = aws.transfer_client(credentials, region)
        disks = [dict(d) for d in task.disks]
        total = sum(d["size"] for d in disks) or 1
        state = {"read": sum(d["size"] for d in disks if d["done"]), "uploaded": 0}

        def nfc_progress():
            vc.lease_progress(self.lease.moref, int(100 * state["read"] / total))

        nfc_progress()  # renew at once: bucket and upload set-up below may take a while
        heartbeat = self.heartbeat
        heartbeat.watch_peer(nfc_progress, self.lease.timeout_seconds)
        try:
            for index, disk in enumerate(disks):
                if disk["done"]:
                    continue
                device = devices.get(disk["device_key"])
                if device is None:
                    raise StepFailed("disk_changed", "The VM's disks changed since the export started.")
                if not disk["upload_id"]:
                    heartbeat.fence()
                    task.s3_bucket = bucket
                    disk_upload_start(s3, task, disk, index)
                    self.save(disks=disks)  # the upload id is saved before any part is sent
                try:
                    already = {p.part_number: p for p in aws.multipart_parts(s3, bucket, disk["s3_key"],
                                                                              disk["upload_id"])}
                except aws.AwsError as exc:
                    if exc.code != "NoSuchUpload":
                        raise
                    return self.restart_gone_upload(task, disks, index, state["read"], exc)
                plan = (datapath.PartPlan.from_dict(disk["part_plan"]) if disk.get("part_plan")
                        else datapath.PartPlan(disk["part_size"]))  # a checkpoint from before part plans
                restarted = (f" (restarted from the beginning: {disk['restarted']})" if disk.get("restarted")
                             else "")
                self.save(step=f"disk {index + 1} of {len(disks)}",
                          status_message=f"Exporting and uploading disk {index + 1} of {len(disks)}{restarted}")
                stream = vc.open_disk(device, task.vm_name)
                base = state["read"]
                last_write = [0.0]

                def on_progress(p: datapath.Progress, base=base, bound=disk["size"] or MAX_DISK_STREAM_BYTES):
                    # against the capacity: a stream longer than it (never for a real disk) stops at 100 %
                    state["read"] = base + min(p.bytes_read, bound)
                    if time.monotonic() - last_write[0] >= 1:
                        last_write[0] = time.monotonic()
                        self.save(bytes_exported=state["read"], bytes_uploaded=base + min(p.bytes_uploaded, bound))

                try:
                    parts = datapath.stream_to_multipart(
                        read=stream.read, readinto=stream.readinto, plan=plan, already=already,
                        upload_part=lambda n, body, crc, key=disk["s3_key"], uid=disk["upload_id"]:
                            aws.multipart_upload_part(s3, bucket, key, uid, n, body, crc),
                        concurrency=settings.MIGRATION_UPLOAD_CONCURRENCY, max_bytes=MAX_DISK_STREAM_BYTES,
                        on_progress=on_progress, check=heartbeat.check)
                except aws.AwsError as exc:
                    if exc.code != "NoSuchUpload":
                        raise
                    return self.restart_gone_upload(task, disks, index, base, exc)
                except datapath.StreamTooLarge:
                    raise StepFailed("disk_too_large", "The disk stream passed 215 GB, the VM Import limit for a "
                                     "compressed disk; the transfer was stopped.") from None
                except datapath.SourceChanged as exc:
                    # The parts S3 holds are from another version of this disk: start it again, whole, in a new
                    # upload (its capacity may have changed as well, so the part plan is made again too).
                    logger.warning("migration %s: disk %s changed since the last attempt (%s); restarting it",
                                   task.pk, index + 1, exc)
                    heartbeat.fence()
                    aws.multipart_abort(s3, bucket, disk["s3_key"], disk["upload_id"])
                    disk.update(upload_id="", part_plan=None, size=device.capacity_bytes or disk["size"],
                                restarted=f"it changed since the interrupted attempt, part {exc.part_number} "
                                          f"differs")
                    self.save(disks=disks, bytes_total=sum(d["size"] for d in disks), bytes_exported=base,
                              bytes_uploaded=base,
                              status_message=f"Disk {index + 1} changed since the interrupted attempt (part "
                                             f"{exc.part_number} differs); restarting its upload from the beginning")
                    return None
                finally:
                    stream.close()
                self.fence()
                try:
                    aws.multipart_complete(s3, bucket, disk["s3_key"], disk["upload_id"], parts)
                except aws.AwsError as exc:
                    if exc.code != "NoSuchUpload":
                        raise
                    return self.restart_gone_upload(task, disks, index, base, exc)
                disk["done"] = True
                disk["parts_resumed"] = disk.get("parts_resumed", 0) + sum(1 for p in parts if p.part_number in
                                                                           already)
                disk["stream_bytes"] = sum(p.size for p in parts)
                state["read"] = base + (disk["size"] or disk["stream_bytes"])
                # A whole disk in S3 is progress: the attempts cap counts failures per stretch without any, so
                # transient errors spread over a long transfer of many disks never add up to failing it.
                self.save(disks=disks, bytes_exported=state["read"], bytes_uploaded=state["read"], attempts=0)
            heartbeat.check()
        finally:
            heartbeat.unwatch_peer()
        self.fence()
        vc.lease_progress(self.lease.moref, 100)
        vc.lease_complete(self.lease.moref)
        self.move(task, S.CONVERTING, nfc_lease_moref="", step="importing",
                  status_message="Disks uploaded; EC2 is importing the image")
        return None

    def restart_gone_upload(self, task: MigrationTask, disks: list[dict], index: int, base: int,
                            exc: aws.AwsError):
        """S3 no longer has the disk's upload (aborted by someone else or by the bucket's rule for incomplete
        uploads): its id answers NoSuchUpload for good, so retrying it is pointless. The disk starts again in a
        new upload; when that keeps happening, the job fails."""
        disk = disks[index]
        lost = disk.get("upload_restarts", 0) + 1
        if lost >= MAX_UPLOADS_LOST:
            raise StepFailed("upload_gone", (
                f"S3 lost the upload of disk {index + 1} {lost} times (NoSuchUpload: {exc.message}); something "
                f"aborts the uploads in {task.s3_bucket or 'the staging bucket'}."))
        logger.warning("migration %s: S3 no longer has the upload of disk %s (%s); restarting it", task.pk,
                       index + 1, exc.message)
        self.fence()
        disk.update(upload_id="", part_plan=None, upload_restarts=lost,
                    restarted="S3 no longer has its upload (NoSuchUpload)")
        self.save(disks=disks, bytes_exported=base, bytes_uploaded=base,
                  status_message=f"S3 no longer has the upload of disk {index + 1} (NoSuchUpload); restarting it "
                                 f"in a new upload")
        return None

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
        remaining: list[str] = []
        if not self.abort_export_lease(task, "migration cancelled or failed"):
            remaining.append("the export lease in vCenter")
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
