"""The worker side of a migration: one tick claims the job's lease and drives it forward from its checkpoint.

export (NFC lease) -> upload (disks streamed into S3 multipart uploads) -> convert (EC2 ImportImage) -> launch
(RunInstances, stopped) -> completed. Every step can be interrupted at any point (kill -9 included) and run again:
the lease moves to the next worker, parts already in S3 are skipped (ListParts), ImportImage and RunInstances
carry ClientTokens saved before the first call, and a worker that lost its lease cannot write (epoch fencing).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from environments.models import Environment
from environments.services import instance_record_imported
from migrations_app import datapath
from migrations_app.choices import ACTIVE, MAX_DISK_STREAM_BYTES, TERMINAL, MigrationState, platform_of
from migrations_app.models import MigrationTask
from migrations_app.queue import enqueue_tick
from migrations_app.staging import staging_bucket_name
from migrations_app.transitions import (
    LeaseLost,
    checkpoint,
    lease_claim,
    lease_release,
    lease_renew,
    migration_transition,
)
from portal.core.errors import PortalError
from portal.core.models import User
from portal.core.peers import aws_credentials, vcenter_connection
from portal.core.roles import Action
from portal.integrations.aws import client as aws
from portal.integrations.vsphere import client as vsphere

logger = logging.getLogger("portal.migrations.pipeline")
S = MigrationState


class Cancelled(Exception):
    pass


class StepFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_tick(task_id: int) -> str:
    """Claim the job and drive it until it finishes, waits, or the tick's time budget is spent."""
    close_old_connections()
    epoch = lease_claim(task_id=task_id, owner=_worker_name(), ttl_seconds=settings.MIGRATION_LEASE_SECONDS)
    if epoch is None:
        return "busy"
    runner = Runner(task_id, epoch)
    outcome = "lease_lost"
    try:
        outcome = runner.run()
    except LeaseLost:
        logger.warning("migration %s: lease lost; another worker continues it", task_id)
    finally:
        runner.close()
        lease_release(task_id=task_id, epoch=epoch)
    if outcome == "again":
        enqueue_tick(task_id)
    return outcome


class Heartbeat(threading.Thread):
    """Renews the job lease and the NFC lease well inside their timeouts, and notices cancellation."""

    def __init__(self, task_id: int, epoch: int, nfc_progress=None, nfc_timeout: float | None = None):
        super().__init__(daemon=True, name=f"migration-{task_id}-heartbeat")
        self.task_id, self.epoch, self.nfc_progress = task_id, epoch, nfc_progress
        # A quarter of the shorter of the two timeouts: three beats may be lost before either lease lapses.
        shortest = min(settings.MIGRATION_LEASE_SECONDS, nfc_timeout or settings.MIGRATION_LEASE_SECONDS)
        self.interval = max(0.2, shortest / 4)
        self.stopped = threading.Event()
        self.lost = self.cancelled = False
        self.error: Exception | None = None

    def run(self):
        try:
            while not self.stopped.wait(self.interval):
                try:
                    lease_renew(task_id=self.task_id, epoch=self.epoch, ttl_seconds=settings.MIGRATION_LEASE_SECONDS)
                except LeaseLost:
                    self.lost = True
                    return
                state = MigrationTask.objects.filter(pk=self.task_id).values_list("state", flat=True).first()
                if state == S.CANCELLING:
                    self.cancelled = True
                if self.nfc_progress is not None:
                    try:
                        self.nfc_progress()
                    except vsphere.VSphereError as exc:
                        self.error = exc
        finally:
            connection.close()

    def check(self):
        if self.lost:
            raise LeaseLost(f"migration {self.task_id}")
        if self.cancelled:
            raise Cancelled()
        if self.error is not None:
            raise self.error

    def stop(self):
        self.stopped.set()
        self.join(timeout=30)


class Runner:
    def __init__(self, task_id: int, epoch: int):
        self.task_id, self.epoch = task_id, epoch
        self._vc: vsphere.VCenterSession | None = None
        self.lease: vsphere.ExportLease | None = None

    # -- plumbing ------------------------------------------------------------------------------------------------

    def task(self) -> MigrationTask:
        return MigrationTask.objects.select_related("tenant", "region", "environment", "subnet", "security_group",
                                                    "key_pair", "created_by").get(pk=self.task_id)

    def vc(self, task: MigrationTask) -> vsphere.VCenterSession:
        if self._vc is None:
            self._vc = vsphere.VCenterSession(vcenter_connection(task.tenant))
        return self._vc

    def close(self):
        if self._vc is not None:
            self._vc.close()

    def save(self, **fields):
        checkpoint(task_id=self.task_id, epoch=self.epoch, **fields)

    def move(self, task: MigrationTask, to: str, **fields) -> None:
        if migration_transition(task_id=task.pk, to=to, epoch=self.epoch, expected_from={task.state},
                                **fields) is None:
            # Cancelled (or taken over) meanwhile: the loop reads the row again and acts on what it finds.
            raise Cancelled()

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self) -> str:
        deadline = time.monotonic() + settings.MIGRATION_TICK_BUDGET_SECONDS
        steps = {S.EXPORTING: self.export, S.UPLOADING: self.upload, S.CONVERTING: self.convert,
                 S.LAUNCHING: self.launch}
        while True:
            task = self.task()
            if task.lease_epoch != self.epoch:
                raise LeaseLost(f"migration {self.task_id}")
            if task.state in TERMINAL:
                return "done"
            if task.state == S.CANCELLING:
                return self.finish_cancel(task)
            if not self.still_authorized(task):
                return self.fail(task, "authz_revoked", f"{task.created_by.get_username()} no longer may migrate into "
                                 "this environment (grant revoked, or the account or its organisation deactivated), "
                                 "so the migration was stopped and everything it held was released.")
            try:
                wait_seconds = steps[task.state](task)
            except LeaseLost:
                raise
            except Cancelled:
                continue
            except StepFailed as exc:
                return self.fail(task, exc.code, exc.message)
            except PortalError as exc:  # the tenant's settings no longer allow it (AWS access removed, say)
                return self.fail(task, exc.code, exc.message)
            except vsphere.VSphereError as exc:
                return self.fail(task, f"vcenter_{exc.code}", exc.message)
            except aws.AwsError as exc:
                return self.fail(task, f"aws_{exc.code}", f"AWS: {exc.message}")
            except datapath.StreamTooLarge:
                return self.fail(task, "disk_too_large", "The disk stream passed 215 GB, the VM Import limit for a "
                                 "compressed disk; the transfer was stopped.")
            except Exception as exc:  # a bug must fail the job visibly, never leave it hanging
                logger.exception("migration %s: unexpected error", self.task_id)
                return self.fail(task, "internal_error", f"Internal error: {exc.__class__.__name__}: {exc}")
            if wait_seconds is None:
                continue
            if time.monotonic() + wait_seconds > deadline:
                return "again"
            self.sleep(wait_seconds)

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.5))
            lease_renew(task_id=self.task_id, epoch=self.epoch, ttl_seconds=settings.MIGRATION_LEASE_SECONDS)

    @staticmethod
    def still_authorized(task: MigrationTask) -> bool:
        """Authorization changes apply to running jobs too: before every step the starter and their tenant must
        still be active and the starter hold `general` on the environment (read fresh, never from a cache)."""
        user = User.objects.select_related("tenant").filter(
            pk=task.created_by_id, is_active=True, tenant__is_active=True).first()
        return user is not None and Environment.objects.restrict(user, Action.OPERATE).filter(
            pk=task.environment_id).exists()

    # -- steps ---------------------------------------------------------------------------------------------------

    def _open_lease(self, task: MigrationTask) -> vsphere.ExportLease:
        vc = self.vc(task)
        if task.nfc_lease_moref:
            vc.lease_abort(task.nfc_lease_moref, "superseded by a new export attempt")  # an earlier attempt's
        self.save(step="waiting for the export lease")
        lease_moref = vc.export_start(task.vm_moref)
        self.save(nfc_lease_moref=lease_moref)
        return vc.lease_wait_ready(lease_moref, timeout=300)

    def export(self, task: MigrationTask):
        vc = self.vc(task)
        vm = vc.get_vm(task.vm_moref)
        if vm.power_state != "poweredOff":
            if not task.power_off_requested:
                raise StepFailed("vm_powered_on", f"{vm.name} was powered on again before the export started.")
            self.save(step="powering off", status_message=f"Powering off {vm.name}")
            vc.power_off(task.vm_moref)
        self.lease = self._open_lease(task)
        devices = [d for d in self.lease.devices if d.disk]
        if not devices:
            raise StepFailed("no_disks", "vCenter offered no disks to export.")
        disks = task.disks or [{"device_key": d.key, "size": d.file_size, "s3_key": "", "upload_id": "",
                                "part_size": 0, "done": False} for d in devices]
        self.move(task, S.UPLOADING, disks=disks, bytes_total=sum(d.file_size for d in devices),
                  step="exporting disks", status_message=f"Exporting and uploading {len(disks)} disk(s)")
        return None

    def upload(self, task: MigrationTask):
        vc = self.vc(task)
        if self.lease is None or self.lease.moref != task.nfc_lease_moref:
            self.lease = self._open_lease(task)  # resuming: the old lease died with the old worker
        devices = {d.key: d for d in self.lease.devices if d.disk}
        credentials, region = aws_credentials(task.tenant), task.region.code
        bucket = task.s3_bucket or staging_bucket_name(task.tenant, region)
        if not task.s3_bucket:
            aws.staging_bucket_ensure(credentials, region, bucket)
            self.save(s3_bucket=bucket)
        s3 = aws.client("s3", credentials, region)
        disks = [dict(d) for d in task.disks]
        total = sum(d["size"] for d in disks) or 1
        state = {"read": sum(d["size"] for d in disks if d["done"]), "uploaded": 0}

        def nfc_progress():
            vc.lease_progress(self.lease.moref, int(100 * state["read"] / total))

        nfc_progress()  # renew at once: bucket and upload set-up below may take a while
        heartbeat = Heartbeat(self.task_id, self.epoch, nfc_progress, nfc_timeout=self.lease.timeout_seconds)
        heartbeat.start()
        try:
            for index, disk in enumerate(disks):
                if disk["done"]:
                    continue
                device = devices.get(disk["device_key"])
                if device is None:
                    raise StepFailed("disk_changed", "The VM's disks changed since the export started.")
                if not disk["upload_id"]:
                    disk["s3_key"] = f"{task.tenant.slug}/migration-{task.pk}/disk-{index + 1}.vmdk"
                    disk["part_size"] = datapath.part_size_for(device.file_size, settings.MIGRATION_PART_SIZE)
                    disk["upload_id"] = aws.multipart_start(s3, bucket, disk["s3_key"], {
                        "portal-migration": str(task.pk), "portal-tenant": task.tenant.slug})
                    self.save(disks=disks)  # the upload id is saved before any part is sent
                already = {p.part_number: p for p in aws.multipart_parts(s3, bucket, disk["s3_key"],
                                                                          disk["upload_id"])}
                self.save(step=f"disk {index + 1} of {len(disks)}",
                          status_message=f"Exporting and uploading disk {index + 1} of {len(disks)}")
                stream = vc.open_disk(device, task.vm_name)
                base = state["read"]
                last_write = [0.0]

                def on_progress(p: datapath.Progress, base=base):
                    state["read"] = base + p.bytes_read
                    if time.monotonic() - last_write[0] >= 1:
                        last_write[0] = time.monotonic()
                        self.save(bytes_exported=state["read"], bytes_uploaded=base + p.bytes_uploaded)

                try:
                    parts = datapath.stream_to_multipart(
                        read=stream.read, part_size=disk["part_size"], already=already,
                        upload_part=lambda n, body, key=disk["s3_key"], uid=disk["upload_id"]:
                            aws.multipart_upload_part(s3, bucket, key, uid, n, body),
                        concurrency=settings.MIGRATION_UPLOAD_CONCURRENCY, max_bytes=MAX_DISK_STREAM_BYTES,
                        on_progress=on_progress, check=heartbeat.check)
                finally:
                    stream.close()
                aws.multipart_complete(s3, bucket, disk["s3_key"], disk["upload_id"], parts)
                disk["done"] = True
                disk["parts_resumed"] = disk.get("parts_resumed", 0) + sum(1 for p in parts if p.part_number in
                                                                           already)
                state["read"] = base + sum(p.size for p in parts)
                self.save(disks=disks, bytes_exported=state["read"], bytes_uploaded=state["read"])
            heartbeat.check()
        finally:
            heartbeat.stop()
        vc.lease_progress(self.lease.moref, 100)
        vc.lease_complete(self.lease.moref)
        self.move(task, S.CONVERTING, nfc_lease_moref="", step="importing",
                  status_message="Disks uploaded; EC2 is importing the image")
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
            try:
                started = aws.import_image(
                    credentials, region, client_token=task.import_client_token, bucket=task.s3_bucket,
                    keys=[d["s3_key"] for d in task.disks], platform=platform_of(task.operating_system),
                    description=f"{task.vm_name} (portal migration {task.pk})",
                    tags={"portal-migration": str(task.pk), "portal-tenant": task.tenant.slug})
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
            info = aws.run_instance(
                credentials, region, client_token=task.run_client_token, image_id=task.image_id,
                instance_type=task.instance_type, subnet_id=task.subnet.subnet_id,
                security_group_id=task.security_group.group_id, private_ip=task.private_ip or "",
                key_name=task.key_pair.name if task.key_pair else "",
                tags={"Name": task.vm_name, "portal-migration": str(task.pk),
                      "aws-management-portal/environment-id": str(task.environment_id)})
            self.save(instance_id=info.instance_id)
            task.instance_id = info.instance_id
        info = aws.instance_wait_not_pending(credentials, region, task.instance_id)
        if info.state == "running":
            aws.instance_power(credentials, region, task.instance_id, "stop")
            info = aws.instance_describe(credentials, region, task.instance_id)
        instance_record_imported(
            actor=task.created_by, environment=task.environment, instance_id=task.instance_id,
            image_id=task.image_id, instance_type=task.instance_type, private_ip=info.private_ip,
            state=info.state, source_vm_moref=task.vm_moref, source_vm_name=task.vm_name)
        s3 = aws.client("s3", credentials, region)
        for disk in task.disks:
            if disk.get("s3_key"):
                aws.object_delete(s3, task.s3_bucket, disk["s3_key"])
        self.move(task, S.COMPLETED, step="done",
                  status_message=f"Imported as {task.instance_id} (stopped; start it when ready)")
        return None

    # -- endings -------------------------------------------------------------------------------------------------

    def cleanup(self, task: MigrationTask) -> list[str]:
        """Release everything the job holds: NFC lease, multipart uploads, staged objects, the import task, and
        an instance or image a finished migration would have kept. Each part is tried; problems are reported."""
        problems: list[str] = []
        if task.nfc_lease_moref:
            try:
                self.vc(task).lease_abort(task.nfc_lease_moref, "migration cancelled or failed")
            except (vsphere.VSphereError, PortalError) as exc:
                problems.append(exc.message)
        try:
            credentials, region = aws_credentials(task.tenant), task.region.code
        except PortalError as exc:
            # Without the tenant's AWS access nothing there can be released by us; say so rather than crash.
            problems.append(exc.message)
            return problems

        def attempt(what, fn, *args):
            try:
                fn(*args)
            except aws.AwsError as exc:
                problems.append(f"{what}: {exc.message}")

        def release_staged_disks():
            s3 = aws.client("s3", credentials, region)
            for disk in task.disks:
                if disk.get("upload_id") and not disk.get("done"):
                    attempt("abort upload", aws.multipart_abort, s3, task.s3_bucket, disk["s3_key"], disk["upload_id"])
                if disk.get("s3_key"):
                    attempt("delete staged disk", aws.object_delete, s3, task.s3_bucket, disk["s3_key"])

        if task.s3_bucket:
            attempt("release staged disks", release_staged_disks)
        if task.import_task_id and not task.image_id:
            attempt("cancel import", aws.import_image_cancel, credentials, region, task.import_task_id)
        if task.instance_id:
            attempt("terminate instance", aws.instance_terminate, credentials, region, task.instance_id)
        if task.image_id:
            attempt("deregister image", aws.image_deregister, credentials, region, task.image_id)
        return problems

    def fail(self, task: MigrationTask, code: str, message: str) -> str:
        logger.warning("migration %s failed: %s: %s", task.pk, code, message)
        task = self.task()  # the step's checkpoints (upload ids, import task) are newer than the caller's copy
        problems = self.cleanup(task)
        suffix = f" (cleanup: {'; '.join(problems)})" if problems else ""
        failed = migration_transition(task_id=task.pk, to=S.FAILED, epoch=self.epoch, expected_from=ACTIVE,
                                      step="failed", error_code=code[:100], status_message=(message + suffix)[:1000])
        if failed is None:  # cancelled meanwhile: everything is released already, so finish the cancel
            current = self.task()
            return self.finish_cancel(current, problems) if current.state == S.CANCELLING else "cancelled"
        return "failed"

    def finish_cancel(self, task: MigrationTask, problems: list[str] | None = None) -> str:
        if problems is None:
            problems = self.cleanup(task)
        suffix = f" (cleanup: {'; '.join(problems)})" if problems else ""
        self.move(task, S.CANCELLED, step="cancelled", status_message=(task.status_message + suffix)[:1000])
        return "cancelled"
