"""The portal's side of the steps a tenant's connector agent runs (export and upload): it hands a migration to an
agent under the job's lease, and answers the agent's calls while it holds that lease. The agent reads vCenter and
sends the disks; everything that needs the tenant's AWS role stays here: the staging bucket, creating, listing and
completing each multipart upload, and presigning each part's upload (short-lived, the part's CRC32 signed in).

Every call names the job and the lease epoch it was handed: a job of another tenant answers exactly like a missing
one (NotFound), and an epoch that is no longer the job's (the lease ran out and was handed on, or the job was
cancelled) answers `lease_lost`, on which the agent stops sending."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest, Now
from django.utils import timezone

from adapters.aws import client as aws
from connector import datapath
from core.connectors.models import Agent
from core.errors import Conflict, Invalid, NotFound
from core.jobs import lease
from core.jobs.queue import enqueue_tick, schedule_tick
from core.jobs.retry import backoff_seconds
from core.jobs.transitions import transition
from core.peers import aws_credentials, aws_credentials_kept
from migrations_app.choices import MAX_DISK_STREAM_BYTES, MigrationState
from migrations_app.job import MIGRATION
from migrations_app.models import MigrationTask
from migrations_app.staging import MAX_UPLOADS_LOST, disk_upload_start, staging_bucket_name

logger = logging.getLogger("portal.migrations.agent")
S = MigrationState
AGENT_STATES = (S.EXPORTING, S.UPLOADING)
MAX_PARTS_PER_PRESIGN = 64


def lease_owner(agent: Agent) -> str:
    return f"agent:{agent.pk}"


@dataclass(frozen=True)
class Handout:
    job_id: int
    epoch: int
    token: str
    vm_moref: str
    vm_name: str
    power_off: bool
    lease_seconds: int
    part_size: int
    concurrency: int
    max_disk_bytes: int
    # An export lease an earlier attempt opened and may still hold (its agent was killed): the agent aborts it
    # first, since vCenter exports a VM through one lease at a time.
    previous_export_lease: str = ""
    kind: str = "migration"


def claimable(now=None):
    """Every tenant's migrations an agent could claim at `now` (the database's clock when None, so that the query's
    SQL stays the same from one time to the next): in an agent's state, no live lease, not waiting out a backoff,
    attempts left. Read through the `state` index, so only rows in those states (admission bounds them)."""
    now = Now() if now is None else now
    return MigrationTask.objects.filter(state__in=AGENT_STATES).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).filter(
        Q(wake_at__isnull=True) | Q(wake_at__lte=now)).filter(attempts__lt=MIGRATION.setting("MAX_ATTEMPTS"))


def _workable_for(agent: Agent):
    return claimable(timezone.now()).filter(tenant_id=agent.tenant_id)


def work_waiting(agent: Agent) -> bool:
    return _workable_for(agent).exists()


def held_by(agent: Agent) -> int:
    return MigrationTask.objects.filter(lease_owner=lease_owner(agent), lease_expires_at__gte=timezone.now(),
                                        state__in=AGENT_STATES).count()


def work_claim(*, agent: Agent) -> list[Handout]:
    """Hand the agent the migrations that wait for it, up to its limit, each under a fresh lease epoch and with the
    token its user was issued (signed with the portal's key, naming the VM, the environment and the user's vCenter
    identity): the agent refuses a job whose token does not verify, whatever this database says, and checks that
    identity's export privilege itself."""
    from migrations_app.pipeline import starter_may_migrate

    room = settings.MIGRATION_MAX_ACTIVE_PER_REGION - held_by(agent)
    handouts: list[Handout] = []
    for task in _workable_for(agent).select_related("created_by").order_by("created_at", "pk")[:max(room, 0) * 2]:
        if len(handouts) >= room:
            break
        if not starter_may_migrate(task):
            continue  # the portal's own tick fails it and releases what it holds
        epoch = lease.claim(MIGRATION, job_id=task.pk, owner=lease_owner(agent),
                            ttl_seconds=MIGRATION.setting("LEASE_SECONDS"))
        if epoch is None:
            continue
        handouts.append(Handout(task.pk, epoch, task.import_token, task.vm_moref, task.vm_name, task.power_off_requested,
                                int(MIGRATION.setting("LEASE_SECONDS")), settings.MIGRATION_PART_SIZE,
                                settings.MIGRATION_UPLOAD_CONCURRENCY, MAX_DISK_STREAM_BYTES,
                                task.nfc_lease_moref))
        logger.info("migration %s handed to agent %s (epoch %s)", task.pk, agent.pk, epoch)
    return handouts


class _Held:
    """One call of the agent holding a job: the job, read fresh, and the lease checked."""

    def __init__(self, agent: Agent, job_id: int, epoch: int):
        # The tenant's AWS account version comes along, so that a presign finds the kept credentials without a
        # query of its own (core.peers.aws_credentials_kept).
        self.task = MigrationTask.objects.select_related("tenant", "region").annotate(
            aws_account_version=F("tenant__aws_account__updated_at")).filter(
            pk=job_id, tenant_id=agent.tenant_id).first()
        if self.task is None:
            raise NotFound("No such job.")
        if self.task.lease_epoch != epoch or self.task.lease_owner != lease_owner(agent):
            raise Conflict("This job's lease was handed on; stop working on it.", code="lease_lost")
        if self.task.state not in AGENT_STATES:
            # Cancelled or failed meanwhile: the lease goes back now, so the portal's worker releases the job at
            # once rather than once the lease runs out.
            lease.release(MIGRATION, job_id=job_id, epoch=epoch)
            enqueue_tick(MIGRATION, job_id)
            raise Conflict(f"The migration is {self.task.get_state_display().lower()}; stop working on it.",
                           code="lease_lost")
        self.epoch = epoch

    def save(self, **fields) -> None:
        try:
            lease.checkpoint(MIGRATION, job_id=self.task.pk, epoch=self.epoch, **fields)
        except lease.LeaseLost:
            raise Conflict("This job's lease was handed on; stop working on it.", code="lease_lost") from None

    def renew(self) -> None:
        try:
            lease.renew(MIGRATION, job_id=self.task.pk, epoch=self.epoch,
                        ttl_seconds=MIGRATION.setting("LEASE_SECONDS"))
        except lease.LeaseLost:
            raise Conflict("This job's lease was handed on; stop working on it.", code="lease_lost") from None

    def move(self, to: str, **fields) -> None:
        if transition(MIGRATION, job_id=self.task.pk, to=to, epoch=self.epoch, expected_from={self.task.state},
                      **fields) is None:
            raise Conflict("The migration changed meanwhile; stop working on it.", code="lease_lost")

    def disk(self, index: int) -> dict:
        if not 0 <= index < len(self.task.disks):
            raise Invalid(f"The migration has no disk {index + 1}.", field="disk")
        return self.task.disks[index]


def work_report(*, agent: Agent, job_id: int, epoch: int, step: str = "", status_message: str = "",
                bytes_exported: int | None = None, bytes_uploaded: int | None = None,
                nfc_lease_moref: str = "") -> None:
    """Progress, and the agent's heartbeat for the job: it renews the lease."""
    held = _Held(agent, job_id, epoch)
    held.renew()
    fields = {name: value for name, value in (("step", step[:100]), ("status_message", status_message[:1000]),
                                              ("nfc_lease_moref", nfc_lease_moref[:64])) if value}
    total = held.task.bytes_total
    # The disks already in S3 are settled: a report sent before the last of them was done (the agent's beat runs
    # beside its data path) cannot take their bytes back. Nor can a report that read the job before a disk was done
    # and writes after it (the row's own count, written by that disk's `done`, is the floor): a report only adds.
    # Where the count must go back (a disk begun again), the portal writes it itself (`_forget_upload`).
    settled = sum((d["size"] or d.get("stream_bytes", 0)) for d in held.task.disks if d.get("done"))
    for name, value in (("bytes_exported", bytes_exported), ("bytes_uploaded", bytes_uploaded)):
        if value is not None:
            fields[name] = Greatest(F(name), Value(max(settled, min(int(value), total or int(value)))))
    if fields:
        held.save(**fields)


def work_exported(*, agent: Agent, job_id: int, epoch: int, capacities: list[int], device_keys: list[str],
                  total_capacity: int) -> list[dict]:
    """The export lease is ready with these disks: the first time, they become the job's disks and it moves on to
    uploading; when resuming, they must be the same disks."""
    held = _Held(agent, job_id, epoch)
    if not device_keys:
        fail_job(held, "no_disks", "vCenter offered no disks to export.")
    task = held.task
    if task.state == S.EXPORTING:
        bounds = datapath.capacity_bounds(capacities, total_capacity)
        disks = [{"device_key": key, "size": size, "s3_key": "", "upload_id": "", "part_size": 0, "done": False}
                 for key, size in zip(device_keys, bounds)]
        held.move(S.UPLOADING, disks=disks, bytes_total=sum(d["size"] for d in disks), step="exporting disks",
                  status_message=f"Exporting and uploading {len(disks)} disk(s)")
        return disks
    if sorted(d["device_key"] for d in task.disks) != sorted(device_keys):
        fail_job(held, "disk_changed", "The VM's disks changed since the export started.")
    return task.disks


def _upload_ready(held: _Held, index: int, s3) -> dict:
    """The disk's multipart upload, created (and saved) before the agent may send any part of it."""
    task, disks = held.task, [dict(d) for d in held.task.disks]
    disk = disks[index]
    if not task.s3_bucket:
        bucket = staging_bucket_name(task.tenant, task.region.code)
        aws.staging_bucket_ensure(aws_credentials(task.tenant), task.region.code, bucket)
        held.save(s3_bucket=bucket)
        task.s3_bucket = bucket
    if not disk["upload_id"]:
        disk_upload_start(s3, task, disk, index)
        held.save(disks=disks)
        task.disks = disks
    return disk


def work_disk_begin(*, agent: Agent, job_id: int, epoch: int, index: int, restart: str = "",
                    capacity: int = 0) -> dict:
    """Where the disk goes and what S3 already holds of it (the truth after a crash): its upload id, part plan and
    listed parts with their CRC32. `restart` (the agent found that S3's parts are of another version of the disk):
    the old upload is aborted and the disk starts again, whole, in a new one."""
    held = _Held(agent, job_id, epoch)
    disk = held.disk(index)
    task = held.task
    credentials, region = aws_credentials_kept(task.tenant, version=task.aws_account_version), task.region.code
    s3 = aws.transfer_client(credentials, region)
    aws.presigner_ready(credentials, region)  # the part URLs asked for next find it (and the credentials) kept
    if restart and disk["upload_id"]:
        aws.multipart_abort(s3, task.s3_bucket, disk["s3_key"], disk["upload_id"])
        _forget_upload(held, index, restarted=f"it changed since the interrupted attempt ({restart[:200]})",
                       size=capacity or disk["size"])
    for _ in range(MAX_UPLOADS_LOST):
        disk = _upload_ready(held, index, s3)
        try:
            parts = aws.multipart_parts(s3, task.s3_bucket, disk["s3_key"], disk["upload_id"])
        except aws.AwsError as exc:
            if exc.code != "NoSuchUpload":
                raise
            _upload_lost(held, index, exc)
            continue
        restarted = f" (restarted from the beginning: {disk['restarted']})" if disk.get("restarted") else ""
        held.save(step=f"disk {index + 1} of {len(task.disks)}",
                  status_message=f"Exporting and uploading disk {index + 1} of {len(task.disks)}{restarted}")
        plan = disk.get("part_plan") or {"base": disk["part_size"], "steady": 10_000, "step": 10_000}
        return {"upload_id": disk["upload_id"], "s3_key": disk["s3_key"], "plan": plan, "size": disk["size"],
                "parts": [{"part_number": p.part_number, "etag": p.etag, "size": p.size, "crc32": p.crc32}
                          for p in parts]}
    fail_job(held, "upload_gone", f"S3 lost the upload of disk {index + 1} again and again; something aborts the "
                                  f"uploads in {task.s3_bucket}.")


def _forget_upload(held: _Held, index: int, **changes) -> None:
    disks = [dict(d) for d in held.task.disks]
    disks[index].update(upload_id="", part_plan=None, **changes)
    base = sum(d["size"] for d in disks if d["done"])
    held.save(disks=disks, bytes_total=sum(d["size"] for d in disks), bytes_exported=base, bytes_uploaded=base)
    held.task.disks = disks


def _upload_lost(held: _Held, index: int, exc: aws.AwsError) -> None:
    """S3 no longer has the disk's upload (aborted by someone else, or the bucket's rule for incomplete uploads):
    the disk starts again in a new upload; when that keeps happening, the job fails."""
    lost = held.task.disks[index].get("upload_restarts", 0) + 1
    if lost >= MAX_UPLOADS_LOST:
        fail_job(held, "upload_gone", f"S3 lost the upload of disk {index + 1} {lost} times (NoSuchUpload: "
                                      f"{exc.message}); something aborts the uploads in {held.task.s3_bucket}.")
    _forget_upload(held, index, upload_restarts=lost, restarted="S3 no longer has its upload (NoSuchUpload)")


def work_presign(*, agent: Agent, job_id: int, epoch: int, index: int, upload_id: str,
                 parts: list[tuple[int, int]]) -> list[dict]:
    """Presigned UploadPart URLs for these (part number, CRC32) of the disk's current upload: valid for
    AGENT_PRESIGN_SECONDS (at most 15 minutes), each for its own part, key and upload, with its checksum signed in,
    so that a URL cannot carry another part or other bytes.

    Asked for once per part, so it is kept cheap: it writes nothing (the lease is the job's beat's to renew, by
    `work_report`; the epoch is still checked, so a presign for a lease handed on is refused), and the tenant's
    credentials are kept in process while its account row is unchanged."""
    held = _Held(agent, job_id, epoch)
    disk = held.disk(index)
    if not disk["upload_id"] or disk["upload_id"] != upload_id or disk["done"]:
        raise Conflict("That upload is not the disk's current one; ask for the disk again.", code="upload_changed")
    if not 0 < len(parts) <= MAX_PARTS_PER_PRESIGN:
        raise Invalid(f"Ask for 1 to {MAX_PARTS_PER_PRESIGN} parts at a time.", field="parts")
    if any(not 1 <= number <= datapath.S3_MAX_PARTS or not 0 <= crc < 2**32 for number, crc in parts):
        raise Invalid("A part number is 1 to 10,000 and a CRC32 fits in 32 bits.", field="parts")
    task = held.task
    credentials, region = aws_credentials_kept(task.tenant, version=task.aws_account_version), task.region.code
    expires = min(settings.AGENT_PRESIGN_SECONDS, 900)
    signed = []
    for number, crc in parts:
        url = aws.presigned_upload_part(credentials, region, task.s3_bucket, disk["s3_key"], upload_id, number, crc,
                                        expires)
        signed.append({"part_number": number, "url": url.url, "headers": url.headers, "expires_at": url.expires_at})
    return signed


def work_disk_done(*, agent: Agent, job_id: int, epoch: int, index: int, upload_id: str,
                   parts: list[aws.UploadedPart], resumed: int) -> bool:
    """Complete the disk's upload with the parts the agent sent (or found in S3). False: S3 lost the upload, the
    disk starts again (ask for it again)."""
    held = _Held(agent, job_id, epoch)
    disk = held.disk(index)
    if disk["done"]:
        return True
    if disk["upload_id"] != upload_id:
        raise Conflict("That upload is not the disk's current one; ask for the disk again.", code="upload_changed")
    task = held.task
    s3 = aws.transfer_client(aws_credentials(task.tenant), task.region.code)
    try:
        aws.multipart_complete(s3, task.s3_bucket, disk["s3_key"], upload_id, parts)
    except aws.AwsError as exc:
        if exc.code != "NoSuchUpload":
            raise
        _upload_lost(held, index, exc)
        return False
    disks = [dict(d) for d in task.disks]
    disks[index].update(done=True, parts_resumed=disks[index].get("parts_resumed", 0) + resumed,
                        stream_bytes=sum(p.size for p in parts))
    moved = sum((d["size"] or d.get("stream_bytes", 0)) for d in disks if d["done"])
    # A whole disk in S3 is progress: the attempts cap counts failures per stretch without any.
    held.save(disks=disks, bytes_exported=moved, bytes_uploaded=moved, attempts=0)
    return True


def work_uploaded(*, agent: Agent, job_id: int, epoch: int) -> None:
    """Every disk is in S3 and the export lease completed: the job goes on to ImportImage on the portal's workers."""
    held = _Held(agent, job_id, epoch)
    undone = [i + 1 for i, d in enumerate(held.task.disks) if not d["done"]]
    if held.task.state != S.UPLOADING or undone:
        raise Conflict(f"Disk(s) {', '.join(map(str, undone)) or '?'} are not in S3 yet.", code="disks_missing")
    held.move(S.CONVERTING, nfc_lease_moref="", step="importing",
              status_message="Disks uploaded; EC2 is importing the image")
    lease.release(MIGRATION, job_id=job_id, epoch=epoch)
    enqueue_tick(MIGRATION, job_id)


def work_failed(*, agent: Agent, job_id: int, epoch: int, code: str, message: str, transient: bool) -> str:
    """The agent could not go on. A transient trouble (vCenter or S3 unreachable for a while) is retried from the
    checkpoint after a backoff, by whichever agent asks first; anything else fails the job, and the portal's worker
    releases what it holds."""
    held = _Held(agent, job_id, epoch)
    code = f"connector_{code}"[:100]
    # The agent's messages are sentences ("S3 refused part 4 (SlowDown)."); the notes below continue them, as the
    # platform's own retries did ("...; retrying from the checkpoint"), so the full stop would sit mid-sentence.
    what = message.rstrip(". ") or message
    if not transient:
        fail_job(held, code, message)
    failed = held.task.attempts + 1
    limit = MIGRATION.setting("MAX_ATTEMPTS")
    if failed >= limit:
        held.save(attempts=failed)
        fail_job(held, code, f"{what} (gave up after {failed} attempts)")
    wake = timezone.now() + timezone.timedelta(seconds=backoff_seconds(MIGRATION, failed))
    held.save(attempts=failed, wake_at=wake, step="retrying: the connector's trouble"[:100],
              status_message=(f"{what}; retrying from the checkpoint at {timezone.localtime(wake):%H:%M:%S}, "
                              f"attempt {failed + 1} of {limit}")[:1000])
    lease.release(MIGRATION, job_id=job_id, epoch=epoch)
    schedule_tick(MIGRATION, job_id, wake)
    return "retrying"


class JobFailed(Conflict):
    """The job failed on what the agent reported: the agent stops."""


def fail_job(held: _Held, code: str, message: str):
    """Move the job to failing (the portal's worker then releases everything it holds) and tell the agent."""
    logger.warning("migration %s failed at its connector: %s: %s", held.task.pk, code, message)
    transition(MIGRATION, job_id=held.task.pk, to=S.FAILING, epoch=held.epoch, expected_from=set(AGENT_STATES),
               step="failed; releasing what it held", error_code=code[:100], status_message=message[:1000],
               wake_at=None)
    lease.release(MIGRATION, job_id=held.task.pk, epoch=held.epoch)
    enqueue_tick(MIGRATION, held.task.pk)
    raise JobFailed(message, code="job_failed")
