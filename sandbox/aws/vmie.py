"""moto extension: EC2 VM Import/Export (ImportImage, ImportSnapshot, CreateInstanceExportTask and friends).

moto 5.2.5 implements none of these actions. :func:`install` adds them as methods of
``moto.ec2.responses.EC2Response`` (moto dispatches an action to the method of the same snake_case name and
serialises an ``ActionResult`` with the botocore model), so they work both in-process (``mock_aws``) and in
server mode. Idempotent.

All task state lives in moto's EC2 backend object of the account+region (attribute ``_sandbox_vmie``), so it
is shared by every client of the server and wiped by moto's reset like any other moto resource.

Tasks progress as a pure function of sandbox time (:mod:`sandbox.aws.state`); side effects (registering the
AMI, writing the OVA, removing partial uploads) are materialised lazily by :func:`tick_all`, which runs before
every extension action and - in the sandbox server - before every HTTP request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.responses import EC2Response
from moto.ec2.utils import random_ami_id, random_id
from moto.iam.models import iam_backends
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends
from moto.s3.utils import CaseInsensitiveDict

from . import diskfmt, iampolicy
from .exportaccounts import export_canonical_id  # noqa: F401 (also part of this module's API)
from .state import LOCK, STATE

# ----------------------------------------------------------------------------------------------------
# Timelines. Durations are for the default totals and are scaled to Settings.*_duration.
# ----------------------------------------------------------------------------------------------------

# (StatusMessage, seconds at the default 90 s total, Progress at phase start, Progress at phase end)
IMPORT_PHASES: list[tuple[str, float, int, int]] = [
    ("pending", 5, 0, 2),
    ("validating", 10, 3, 10),
    ("validated", 5, 19, 19),
    ("converting", 25, 20, 37),
    ("updating", 15, 38, 52),
    ("booting", 10, 59, 65),
    ("booted", 5, 69, 72),
    ("preparing ami", 15, 76, 85),
]
SNAPSHOT_PHASES: list[tuple[str, float, int, int]] = [
    ("pending", 5, 0, 2),
    ("validating", 10, 3, 15),
    ("converting", 30, 16, 95),
]
# Export: (StatusMessage while State=active, seconds at the default 60 s total)
EXPORT_PHASES: list[tuple[str, float]] = [
    ("pending", 5),
    ("converting", 25),
    ("uploading", 20),  # a multipart upload of the final key exists (the "partial object")
    ("finalizing", 10),  # transferring the final image: CancelExportTask refused
]

USER_CANCEL_MESSAGE = "User initiated"
MSG_INVALID_S3_SOURCE = "ClientError: Disk validation failed [Invalid S3 source location]"
MSG_S3_FORBIDDEN = "ClientError: We do not have access to the given resource. Reason 403 Forbidden"
DEFAULT_ROLE = "vmimport"
VMIE_PRINCIPAL = "vmie.amazonaws.com"
EXPORT_ACTIVE_STATES = ("active", "cancelling")


def _base_total(phases: list) -> float:
    return float(sum(p[1] for p in phases))


def _phase_at(phases: list, total: float, elapsed: float) -> tuple[int, float]:
    """Index of the phase running at ``elapsed`` and the fraction done (index == len(phases): finished)."""
    scale = total / _base_total(phases) if total else 0.0
    start = 0.0
    for i, phase in enumerate(phases):
        length = phase[1] * scale
        if elapsed < start + length:
            return i, (elapsed - start) / length if length else 0.0
        start += length
    return len(phases), 1.0


def _phase_time(phases: list, total: float, name: str, where: float) -> float:
    """Offset (s) of the point ``where`` (0..1) inside phase ``name``."""
    scale = total / _base_total(phases) if total else 0.0
    start = 0.0
    for phase in phases:
        if phase[0] == name:
            return start + phase[1] * scale * where
        start += phase[1] * scale
    raise KeyError(name)


def _err(code: str, message: str) -> EC2ClientError:
    return EC2ClientError(code, message)


def _tags_from_spec(specs: list[dict[str, Any]] | None, resource_type: str) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    for spec in specs or []:
        rtype = spec.get("ResourceType")
        if rtype != resource_type:
            raise _err(
                "InvalidParameterValue",
                f"'{rtype}' is not a valid taggable resource type for this operation.",
            )
        for tag in spec.get("Tags") or []:
            tags.append({"Key": tag.get("Key", ""), "Value": tag.get("Value", "")})
    return tags


def _fingerprint(params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if k not in ("ClientToken", "DryRun")}
    return json.dumps(clean, sort_keys=True, default=str)


# ----------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------


@dataclass
class DiskSpec:
    device_name: str
    format: str | None
    bucket: str | None = None
    key: str | None = None
    url: str | None = None
    snapshot_id: str | None = None
    description: str | None = None
    size: int | None = None  # object size (bytes) once read
    info: diskfmt.DiskInfo | None = None
    created_snapshot_id: str | None = None

    def detail(self, status: str, snapshot_id: str | None) -> dict[str, Any]:
        d: dict[str, Any] = {"DeviceName": self.device_name, "Status": status}
        if self.format:
            d["Format"] = self.format.upper()
        if self.description:
            d["Description"] = self.description
        if self.size is not None:
            d["DiskImageSize"] = float(self.size)
        if self.bucket:
            d["UserBucket"] = {"S3Bucket": self.bucket, "S3Key": self.key}
        if self.url:
            d["Url"] = self.url
        if snapshot_id:
            d["SnapshotId"] = snapshot_id
        return d


@dataclass
class ImportedImage:
    """What the sandbox remembers about an AMI created by ImportImage (needed to export its instances)."""

    image_id: str
    task_id: str
    capacity: int
    platform: str
    architecture: str
    grains: dict[int, bytes] | None


@dataclass
class _TimedTask:
    task_id: str
    created_at: float
    tags: list[dict[str, str]]
    fingerprint: str = ""
    fail_at: float | None = None  # absolute sandbox time at which the task fails
    fail_message: str | None = None
    cancel_at: float | None = None
    finalized: bool = False

    def _termination(self) -> tuple[float, str] | None:
        events = []
        if self.fail_at is not None:
            events.append((self.fail_at, self.fail_message or "ClientError: failed"))
        if self.cancel_at is not None:
            events.append((self.cancel_at, USER_CANCEL_MESSAGE))
        return min(events) if events else None


@dataclass
class ImportImageTask(_TimedTask):
    disks: list[DiskSpec] = field(default_factory=list)
    description: str | None = None
    platform: str | None = None
    architecture: str | None = None
    license_type: str | None = None
    boot_mode: str | None = None
    encrypted: bool | None = None
    kms_key_id: str | None = None
    role_name: str = DEFAULT_ROLE
    duration: float = 90.0
    image_id: str | None = None

    def state_at(self, now: float, cleanup: float) -> tuple[str, str | None, int | None]:
        """(Status, StatusMessage, Progress) at sandbox time ``now``."""
        term = self._termination()
        if term and now >= term[0]:
            return ("deleted" if now >= term[0] + cleanup else "deleting"), term[1], None
        elapsed = now - self.created_at
        idx, frac = _phase_at(IMPORT_PHASES, self.duration, elapsed)
        if idx >= len(IMPORT_PHASES):
            return "completed", None, None
        name, _, p0, p1 = IMPORT_PHASES[idx]
        return "active", name, int(p0 + (p1 - p0) * frac)

    def _past(self, now: float, phase: str) -> bool:
        end = self.created_at + _phase_time(IMPORT_PHASES, self.duration, phase, 1.0)
        term = self._termination()
        return now >= end and not (term and term[0] < end)

    def describe(self, now: float, cleanup: float) -> dict[str, Any]:
        status, message, progress = self.state_at(now, cleanup)
        d: dict[str, Any] = {"ImportTaskId": self.task_id, "Status": status}
        if message:
            d["StatusMessage"] = message
        if progress is not None:
            d["Progress"] = str(progress)
        if self.description:
            d["Description"] = self.description
        validated = self._past(now, "validating")
        if self.platform or validated:
            d["Platform"] = self.platform or "Linux"
        if self.architecture or validated:
            d["Architecture"] = self.architecture or "x86_64"
        # ImportImage, LicenseType: "Leaving this parameter undefined is the same as choosing AWS when importing a
        # Windows Server operating system, and the same as choosing BYOL when importing ... a Linux operating system"
        d["LicenseType"] = self.license_type or ("AWS" if self.platform == "Windows" else "BYOL")
        if self.boot_mode:
            d["BootMode"] = self.boot_mode
        if self.encrypted is not None:
            d["Encrypted"] = self.encrypted
        if self.kms_key_id:
            d["KmsKeyId"] = self.kms_key_id
        if status == "completed" and self.image_id:
            d["ImageId"] = self.image_id
        converted = self._past(now, "converting")
        if status in ("deleting", "deleted"):
            detail_status = "completed" if converted else "deleted"
        else:
            detail_status = "completed" if converted else "active"
        d["SnapshotDetails"] = [
            disk.detail(detail_status, disk.created_snapshot_id if status == "completed" else None)
            for disk in self.disks
        ]
        if self.tags:
            d["Tags"] = list(self.tags)
        return d


@dataclass
class ImportSnapshotTask(_TimedTask):
    disk: DiskSpec | None = None
    description: str | None = None
    encrypted: bool | None = None
    kms_key_id: str | None = None
    duration: float = 45.0
    snapshot_id: str | None = None

    def state_at(self, now: float, cleanup: float) -> tuple[str, str | None, int | None]:
        term = self._termination()
        if term and now >= term[0]:
            return ("deleted" if now >= term[0] + cleanup else "deleting"), term[1], None
        idx, frac = _phase_at(SNAPSHOT_PHASES, self.duration, now - self.created_at)
        if idx >= len(SNAPSHOT_PHASES):
            return "completed", None, None
        name, _, p0, p1 = SNAPSHOT_PHASES[idx]
        return "active", name, int(p0 + (p1 - p0) * frac)

    def describe(self, now: float, cleanup: float) -> dict[str, Any]:
        status, message, progress = self.state_at(now, cleanup)
        assert self.disk is not None
        detail: dict[str, Any] = {"Status": status}
        if message:
            detail["StatusMessage"] = message
        if progress is not None:
            detail["Progress"] = str(progress)
        if self.disk.format:
            detail["Format"] = self.disk.format.upper()
        if self.disk.size is not None:
            detail["DiskImageSize"] = float(self.disk.size)
        if self.disk.bucket:
            detail["UserBucket"] = {"S3Bucket": self.disk.bucket, "S3Key": self.disk.key}
        if self.disk.url:
            detail["Url"] = self.disk.url
        if self.description:
            detail["Description"] = self.description
        if self.encrypted is not None:
            detail["Encrypted"] = self.encrypted
        if self.kms_key_id:
            detail["KmsKeyId"] = self.kms_key_id
        if status == "completed" and self.snapshot_id:
            detail["SnapshotId"] = self.snapshot_id
        d: dict[str, Any] = {"ImportTaskId": self.task_id, "SnapshotTaskDetail": detail}
        if self.description:
            d["Description"] = self.description
        if self.tags:
            d["Tags"] = list(self.tags)
        return d


@dataclass
class ExportTask(_TimedTask):
    instance_id: str = ""
    image_id: str = ""
    target_environment: str = "vmware"
    disk_image_format: str = "VMDK"
    container_format: str | None = "ova"
    bucket: str = ""
    prefix: str = ""
    key: str = ""
    description: str | None = None
    duration: float = 60.0
    vcpus: int = 1
    memory_mib: int = 1024
    upload_id: str | None = None
    upload_started: bool = False
    payload: bytes | None = None

    def upload_start(self) -> float:
        return self.created_at + _phase_time(EXPORT_PHASES, self.duration, "uploading", 0.0)

    def finalizing_start(self) -> float:
        return self.created_at + _phase_time(EXPORT_PHASES, self.duration, "finalizing", 0.0)

    def state_at(self, now: float, cleanup: float) -> tuple[str, str | None]:
        if self.fail_at is not None and now >= self.fail_at and (
            self.cancel_at is None or self.fail_at <= self.cancel_at
        ):
            return "cancelled", self.fail_message
        if self.cancel_at is not None and now >= self.cancel_at:
            return ("cancelled" if now >= self.cancel_at + cleanup else "cancelling"), USER_CANCEL_MESSAGE
        idx, _ = _phase_at(EXPORT_PHASES, self.duration, now - self.created_at)
        if idx >= len(EXPORT_PHASES):
            return "completed", None
        return "active", EXPORT_PHASES[idx][0]

    def describe(self, now: float, cleanup: float) -> dict[str, Any]:
        state, message = self.state_at(now, cleanup)
        d: dict[str, Any] = {
            "ExportTaskId": self.task_id,
            "State": state,
            "InstanceExportDetails": {"InstanceId": self.instance_id, "TargetEnvironment": self.target_environment},
            "ExportToS3Task": {
                "DiskImageFormat": self.disk_image_format,
                "S3Bucket": self.bucket,
                "S3Key": self.key,
            },
        }
        if self.container_format:
            d["ExportToS3Task"]["ContainerFormat"] = self.container_format
        if message:
            d["StatusMessage"] = message
        if self.description:
            d["Description"] = self.description
        if self.tags:
            d["Tags"] = list(self.tags)
        return d


class VmieStore:
    """Per account+region task state, kept on moto's EC2 backend object."""

    def __init__(self) -> None:
        self.import_tasks: dict[str, ImportImageTask] = {}
        self.snapshot_tasks: dict[str, ImportSnapshotTask] = {}
        self.export_tasks: dict[str, ExportTask] = {}
        self.client_tokens: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, token) -> (fingerprint, id)
        self.imported_images: dict[str, ImportedImage] = {}


def store_for(backend: Any) -> VmieStore:
    store = backend.__dict__.get("_sandbox_vmie")
    if store is None:
        store = backend.__dict__["_sandbox_vmie"] = VmieStore()
    return store


def _all_backends() -> list[Any]:
    out = []
    for account in list(ec2_backends.values()):
        out.extend(list(dict.values(account)))
    return out


# ----------------------------------------------------------------------------------------------------
# Side effects (materialisation)
# ----------------------------------------------------------------------------------------------------


def _s3(account_id: str) -> Any:
    return s3_backends[account_id]["aws"]


class ImportedAmi(Ami):
    """An AMI registered by ImportImage: one EBS mapping per imported disk (moto's Ami knows only its root)."""

    sandbox_mappings: list[dict[str, Any]] = []

    @property
    def block_device_mappings(self) -> list[dict[str, Any]]:
        return [{"DeviceName": m["DeviceName"], "Ebs": dict(m["Ebs"])} for m in self.sandbox_mappings]


def _size_gib(capacity: int) -> int:
    return max(1, -(-capacity // (1024**3)))


def _disk_capacity(backend: Any, disk: DiskSpec) -> int:
    if disk.info is not None:
        return disk.info.capacity
    if disk.snapshot_id:
        return int(backend.get_snapshot(disk.snapshot_id).volume.size) * 1024**3
    return 1024**3


def _create_snapshot(backend: Any, capacity: int, description: str) -> str:
    size_gib = _size_gib(capacity)
    volume = backend.create_volume(size=size_gib, zone_name=f"{backend.region_name}a")
    snapshot = backend.create_snapshot(volume.id, description)
    backend.delete_volume(volume.id)
    return snapshot.id


def _finish_import(backend: Any, store: VmieStore, task: ImportImageTask) -> None:
    root = task.disks[0]
    ami_id = random_ami_id()
    ami = ImportedAmi(
        backend,
        ami_id,
        name=task.task_id,
        description=task.description or f"AWS-VMImport service: {task.task_id}",
        architecture=task.architecture or "x86_64",
        platform="windows" if (task.platform or "").lower() == "windows" else None,
        virtualization_type="hvm",
        hypervisor="xen",
        root_device_type="ebs",
        root_device_name=root.device_name,
        region_name=f"{backend.region_name}a",
        snapshot_description=f"Created by AWS-VMImport service for {task.task_id}",
        boot_mode=task.boot_mode or "legacy-bios",
    )
    # moto's Ami made a 15 GiB root snapshot; real imports get one snapshot per disk, sized from the disk
    placeholder = ami.ebs_snapshot
    mappings = []
    for disk in task.disks:
        capacity = _disk_capacity(backend, disk)
        disk.created_snapshot_id = _create_snapshot(
            backend, capacity, f"Created by AWS-VMImport service for {task.task_id}"
        )
        mappings.append({"DeviceName": disk.device_name, "Ebs": {
            "SnapshotId": disk.created_snapshot_id, "VolumeSize": _size_gib(capacity),
            "DeleteOnTermination": True, "VolumeType": "gp2", "Encrypted": False}})
    ami.ebs_snapshot = backend.get_snapshot(root.created_snapshot_id)
    if len(mappings) > 1 and STATE.faults.import_root_only_count != 0:
        if STATE.faults.import_root_only_count > 0:
            STATE.faults.import_root_only_count -= 1
        STATE.faults.injected["import"] += 1
        mappings = mappings[:1]
    ami.sandbox_mappings = mappings
    ami.ena_support = import_enables_ena(task.platform)
    backend.delete_snapshot(placeholder.id)
    backend.amis[ami_id] = ami
    for disk in task.disks:  # like AWS: in use (not deletable) while the AMI is registered
        backend.get_snapshot(disk.created_snapshot_id).from_ami = ami_id
    task.image_id = ami_id
    store.imported_images[ami_id] = ImportedImage(
        image_id=ami_id,
        task_id=task.task_id,
        capacity=root.info.capacity if root.info else 8 * 1024**3,
        platform=task.platform or "Linux",
        architecture=task.architecture or "x86_64",
        grains=root.info.grains if root.info else None,
    )


def _export_payload(task: ExportTask, image: ImportedImage | None) -> bytes:
    capacity = image.capacity if image else 8 * 1024**3
    grains: Any = image.grains if image and image.grains else diskfmt.sample_disk_data(
        f"vmigrate sandbox export of {task.instance_id} ({task.image_id})"
    )
    vmdk = diskfmt.make_stream_optimized_vmdk(capacity, grains, extent_name=f"{task.task_id}-disk1.vmdk")
    if task.container_format == "ova":
        return diskfmt.make_ova(
            task.task_id, vmdk, capacity, task.vcpus, task.memory_mib, image.platform if image else "Linux"
        )
    return vmdk


def _abort_upload(backend: Any, task: ExportTask) -> None:
    if task.upload_id:
        try:
            _s3(backend.account_id).abort_multipart_upload(task.bucket, task.upload_id)
        except Exception:  # bucket or upload already gone: nothing left to remove
            pass
        task.upload_id = None


def _tick_export(backend: Any, store: VmieStore, task: ExportTask, now: float, cleanup: float) -> None:
    s3 = _s3(backend.account_id)
    if not task.upload_started and now >= task.upload_start():
        term = [t for t in (task.fail_at, task.cancel_at) if t is not None]
        if not term or min(term) > task.upload_start():
            task.upload_started = True
            try:
                task.payload = _export_payload(task, store.imported_images.get(task.image_id))
                upload = s3.create_multipart_upload(
                    task.bucket, task.key, CaseInsensitiveDict(), "STANDARD", {}, None, None, None
                )
                task.upload_id = upload.id
                half = task.payload[: max(1, len(task.payload) // 2)]
                s3.upload_part(task.bucket, upload.id, 1, half)
            except MissingBucket:
                task.fail_at = max(now, task.upload_start())
                task.fail_message = f"ClientError: The S3 bucket {task.bucket} does not exist"
    state, _ = task.state_at(now, cleanup)
    if state == "completed":
        try:
            payload = task.payload or _export_payload(task, store.imported_images.get(task.image_id))
            s3.put_object(task.bucket, task.key, payload)
            _abort_upload(backend, task)
            task.finalized = True
            task.payload = None
        except MissingBucket:
            _abort_upload(backend, task)
            task.fail_at = task.created_at + task.duration
            task.fail_message = f"ClientError: The S3 bucket {task.bucket} does not exist"
            task.finalized = True
            task.payload = None
    elif state == "cancelled":
        _abort_upload(backend, task)
        task.finalized = True
        task.payload = None


def tick_backend(backend: Any, now: float | None = None) -> None:
    """Materialise due transitions of one account+region."""
    store = backend.__dict__.get("_sandbox_vmie")
    if store is None:
        return
    with LOCK:
        now = STATE.clock.now() if now is None else now
        cleanup = STATE.settings.cleanup_duration
        for task in store.import_tasks.values():
            if task.finalized:
                continue
            status, _, _ = task.state_at(now, cleanup)
            if status == "completed":
                _finish_import(backend, store, task)
                task.finalized = True
            elif status == "deleted":
                task.finalized = True
        for snap in store.snapshot_tasks.values():
            if snap.finalized:
                continue
            status, _, _ = snap.state_at(now, cleanup)
            if status == "completed":
                capacity = snap.disk.info.capacity if snap.disk and snap.disk.info else 1024**3
                snap.snapshot_id = _create_snapshot(
                    backend, capacity, snap.description or f"Created by AWS-VMImport service for {snap.task_id}"
                )
                snap.finalized = True
            elif status == "deleted":
                snap.finalized = True
        for export in store.export_tasks.values():
            if not export.finalized:
                _tick_export(backend, store, export, now, cleanup)


def tick_all() -> None:
    """Materialise due transitions everywhere (called before every request by the sandbox middleware)."""
    with LOCK:
        now = STATE.clock.now()
        for backend in _all_backends():
            tick_backend(backend, now)


def all_tasks() -> dict[str, Any]:
    """Debug dump of every task, as the Describe* calls would show them now."""
    with LOCK:
        tick_all()
        now = STATE.clock.now()
        cleanup = STATE.settings.cleanup_duration
        out: dict[str, Any] = {"now": now, "import_image": [], "import_snapshot": [], "export": []}
        for backend in _all_backends():
            store = backend.__dict__.get("_sandbox_vmie")
            if store is None:
                continue
            where = {"account_id": backend.account_id, "region": backend.region_name}
            out["import_image"] += [{**where, **t.describe(now, cleanup)} for t in store.import_tasks.values()]
            out["import_snapshot"] += [
                {**where, **t.describe(now, cleanup)} for t in store.snapshot_tasks.values()
            ]
            out["export"] += [{**where, **t.describe(now, cleanup)} for t in store.export_tasks.values()]
        return out


# ----------------------------------------------------------------------------------------------------
# Request validation helpers
# ----------------------------------------------------------------------------------------------------


def _check_role(account_id: str, role_name: str) -> None:
    message = f"The service role {role_name} provided does not exist or does not have sufficient permissions"
    iam = iam_backends[account_id]["aws"]
    role = next((r for r in iam.get_roles() if r.name == role_name), None)
    if role is None:
        raise _err("InvalidParameter", message)
    try:
        doc = json.loads(role.assume_role_policy_document)
    except (TypeError, ValueError):
        raise _err("InvalidParameter", message) from None
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        if VMIE_PRINCIPAL in services:
            return
    raise _err("InvalidParameter", message)


def _role_access_failure(account_id: str, role_name: str, disk: DiskSpec) -> str | None:
    """The StatusMessage of a task whose service role may not read the disk object (None if it may)."""
    if not disk.bucket:
        return None
    role = next((r for r in iam_backends[account_id]["aws"].get_roles() if r.name == role_name), None)
    if role is None:
        return None  # refused synchronously by _check_role
    documents = iampolicy.role_policy_documents(role)
    if iampolicy.s3_read_denials(documents, disk.bucket, disk.key or ""):
        return MSG_S3_FORBIDDEN
    return None


def _check_import_limit(tasks, now: float, limit: int, kind: str) -> None:
    """AWS refuses a new import task while `limit` tasks of the kind are active in the region."""
    cleanup = STATE.settings.cleanup_duration
    if sum(1 for t in tasks if t.state_at(now, cleanup)[0] == "active") >= limit:
        raise _err(
            "ResourceLimitExceeded",
            f"You have reached the limit of {limit} active {kind} tasks in this region. "
            "Wait for an active task to finish or cancel one, then try again.",
        )


def _check_bucket(account_id: str, region: str, bucket_name: str, key: str | None = None) -> Any:
    try:
        bucket = _s3(account_id).get_bucket(bucket_name)
    except MissingBucket:
        location = f"s3://{bucket_name}/{key or ''}"
        raise _err("InvalidParameter", f"S3 bucket does not exist: {location}") from None
    if getattr(bucket, "region_name", region) != region:
        raise _err(
            "InvalidParameter",
            f"The given S3 bucket is not local to the region. The bucket must be located in {region}.",
        )
    return bucket


def _parse_disk(raw: dict[str, Any], index: int, kind: str) -> DiskSpec:
    user_bucket = raw.get("UserBucket") or {}
    url = raw.get("Url")
    snapshot_id = raw.get("SnapshotId")
    bucket, key = user_bucket.get("S3Bucket"), user_bucket.get("S3Key")
    if url and not bucket:
        if not url.startswith("s3://") or "/" not in url[5:]:
            raise _err(
                "InvalidParameter",
                f"Invalid S3 source location: {url} (the sandbox accepts UserBucket or s3://bucket/key URLs)",
            )
        bucket, key = url[5:].split("/", 1)
    sources = sum(bool(x) for x in (bucket, snapshot_id))
    if sources != 1 or (bucket and not key):
        raise _err(
            "InvalidParameter",
            f"Disk container {index + 1} must specify exactly one of UserBucket (S3Bucket and S3Key), Url or "
            "SnapshotId",
        )
    fmt = raw.get("Format")
    if not fmt and key:
        ext = key.rsplit(".", 1)[-1].upper() if "." in key else ""
        fmt = {"IMG": "RAW"}.get(ext, ext) or None
    if bucket and not fmt:
        raise _err("InvalidParameter", f"Disk container {index + 1}: the Format parameter is required")
    if fmt and fmt.upper() not in diskfmt.SUPPORTED_IMPORT_FORMATS:
        raise _err(
            "InvalidParameter",
            f"Unsupported disk image format '{fmt}'. Valid formats: {', '.join(diskfmt.SUPPORTED_IMPORT_FORMATS)}",
        )
    if kind == "snapshot" and fmt and fmt.upper() == "OVA":
        raise _err("InvalidParameter", "ImportSnapshot does not support the OVA format")
    device = raw.get("DeviceName") or ("/dev/sda1" if index == 0 else f"/dev/sd{chr(ord('b') + index - 1)}")
    return DiskSpec(
        device_name=device,
        format=fmt.upper() if fmt else None,
        bucket=bucket,
        key=key,
        url=url,
        snapshot_id=snapshot_id,
        description=raw.get("Description"),
    )


def _load_disk(account_id: str, disk: DiskSpec) -> str | None:
    """Read and validate the disk object now; returns the failure StatusMessage or None."""
    if disk.snapshot_id:
        return None
    obj = _s3(account_id).get_object(disk.bucket, disk.key)
    if obj is None:
        return MSG_INVALID_S3_SOURCE
    data = obj.value
    disk.size = len(data)
    try:
        disk.info = diskfmt.inspect_disk(data, disk.format or "RAW", STATE.settings.retain_disk_bytes)
    except diskfmt.DiskFormatError as exc:
        return exc.message
    return None


def _idempotent(store: VmieStore, kind: str, token: str | None, fingerprint: str) -> str | None:
    if not token:
        return None
    hit = store.client_tokens.get((kind, token))
    if hit is None:
        return None
    if hit[0] != fingerprint:
        raise _err(
            "IdempotentParameterMismatch",
            "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
        )
    return hit[1]


def _filter_values(filters: list[dict[str, Any]] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in filters or []:
        name = f.get("Name")
        if not name:
            raise _err("InvalidParameterValue", "The filter 'null' is invalid.")
        out.setdefault(name, []).extend(f.get("Values") or [])
    return out


def _match(filters: dict[str, list[str]], item: dict[str, Any], getters: dict[str, Any]) -> bool:
    """EC2-style filter matching: every filter must match one of its values (tag:<k>, tag-key built in)."""
    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    for name, values in filters.items():
        if name in getters:
            if getters[name](item) not in values:
                return False
        elif name == "tag-key":
            if not set(values) & set(tags):
                return False
        elif name.startswith("tag:"):
            if tags.get(name[4:]) not in values:
                return False
        else:
            raise _err("InvalidParameterValue", f"The filter '{name}' is invalid.")
    return True


def _paginate(items: list[dict[str, Any]], max_results: int | None, token: str | None) -> tuple[list, str | None]:
    start = 0
    if token:
        try:
            start = int(token)
        except ValueError:
            raise _err("InvalidPaginationToken", f"Invalid pagination token: {token}") from None
    if not max_results:
        return items[start:], None
    end = start + int(max_results)
    return items[start:end], (str(end) if end < len(items) else None)


# ----------------------------------------------------------------------------------------------------
# The export bucket's grant to VM Export. ExportToS3TaskSpecification.S3Bucket (EC2 API Reference): "The destination
# bucket must exist and have an access control list (ACL) attached that specifies the Region-specific canonical
# account ID for the Grantee." The accounts per region: VM Import/Export User Guide, "Prerequisites for exporting
# an instance" (the same table as the portal's adapter; every region not listed uses the default).
# ----------------------------------------------------------------------------------------------------

MSG_EXPORT_NO_GRANT = "vm-import-export@amazon.com must have WRITE and READ_ACP permissions on the S3 bucket."


def _acl_grants_export(bucket: Any, grantee: str) -> bool:
    """WRITE and READ_ACP (or FULL_CONTROL) to the export account, in an ACL that S3 applies: a bucket whose
    Object Ownership is BucketOwnerEnforced has its ACLs disabled. moto keeps no ownership for a bucket created
    without one; S3 makes new buckets BucketOwnerEnforced by default."""
    if (bucket.ownership_rule or "BucketOwnerEnforced") == "BucketOwnerEnforced" or bucket.acl is None:
        return False
    held: set[str] = set()
    for grant in bucket.acl.grants:
        if any(getattr(g, "id", "") == grantee for g in grant.grantees):
            held.update(grant.permissions)
    return "FULL_CONTROL" in held or {"WRITE", "READ_ACP"} <= held


def _policy_grants_export(bucket: Any, grantee: str, partition: str) -> bool:
    """The bucket-policy equivalent: s3:GetBucketAcl on the bucket and s3:PutObject on its objects, allowed to the
    export account (CanonicalUser) or to everyone; an explicit Deny wins."""
    if not bucket.policy:
        return False
    document = iampolicy.parse_document(bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy)
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements

    def names_export_account(statement: dict[str, Any]) -> bool:
        principal = statement.get("Principal")
        if principal == "*":
            return True
        if isinstance(principal, dict):
            return grantee in iampolicy._listed(principal.get("CanonicalUser")) or "*" in iampolicy._listed(
                principal.get("AWS"))
        return False

    relevant = {"Version": "2012-10-17", "Statement": [s for s in statements if names_export_account(s)]}
    arn = f"arn:{partition}:s3:::{bucket.name}"
    return (iampolicy.evaluate([relevant], "s3:GetBucketAcl", arn)
            and iampolicy.evaluate([relevant], "s3:PutObject", f"{arn}/export-i-probe.ova"))


def _check_export_grant(bucket: Any, region: str) -> None:
    grantee = export_canonical_id(region)
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    if not (_acl_grants_export(bucket, grantee) or _policy_grants_export(bucket, grantee, partition)):
        raise _err("AuthFailure", MSG_EXPORT_NO_GRANT)


# ----------------------------------------------------------------------------------------------------
# Actions (methods added to EC2Response)
# ----------------------------------------------------------------------------------------------------


def import_image(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        store = store_for(backend)
        now = STATE.clock.now()
        settings = STATE.settings
        self.error_on_dryrun()
        params = dict(self.params or {})
        fingerprint = _fingerprint(params)
        existing = _idempotent(store, "import-image", self._get_param("ClientToken"), fingerprint)
        if existing:
            described = store.import_tasks[existing].describe(now, settings.cleanup_duration)
            return ActionResult(_import_image_result(described))

        raw_disks = self._get_param("DiskContainers", []) or []
        if not raw_disks:
            raise _err("InvalidParameter", "The request must contain at least one disk container (DiskContainers).")
        if len(raw_disks) > 22:
            raise _err("InvalidParameter", "Too many disk containers: at most 22 volumes can be imported.")
        disks = [_parse_disk(d, i, "image") for i, d in enumerate(raw_disks)]
        license_type = self._get_param("LicenseType")
        if license_type and license_type not in ("AWS", "BYOL"):
            raise _err("InvalidParameter", f"Invalid LicenseType '{license_type}'. Valid values: AWS, BYOL")
        platform = self._get_param("Platform")
        if platform:  # accepted case-insensitively, reported as Windows | Linux
            normalized = {"windows": "Windows", "linux": "Linux"}.get(platform.lower())
            if normalized is None:
                raise _err("InvalidParameter", f"Invalid Platform '{platform}'. Valid values: Windows, Linux")
            platform = normalized
        architecture = (self._get_param("Architecture") or "").lower() or None
        if architecture and architecture not in ("i386", "x86_64", "arm64"):
            raise _err("InvalidParameter", f"Invalid Architecture '{architecture}'. Valid values: i386, x86_64, arm64")
        tags = _tags_from_spec(self._get_param("TagSpecifications"), "import-image-task")
        role_name = self._get_param("RoleName") or DEFAULT_ROLE

        _check_role(self.current_account, role_name)
        for disk in disks:
            if disk.bucket:
                _check_bucket(self.current_account, self.region, disk.bucket, disk.key)
            elif disk.snapshot_id:
                backend.get_snapshot(disk.snapshot_id)  # InvalidSnapshot.NotFound

        _check_import_limit(store.import_tasks.values(), now, settings.import_limit, "import image")

        task = ImportImageTask(
            task_id=random_id(prefix="import-ami"),
            created_at=now,
            tags=tags,
            fingerprint=fingerprint,
            disks=disks,
            description=self._get_param("Description"),
            platform=platform,
            architecture=architecture,
            license_type=license_type,
            boot_mode=self._get_param("BootMode"),
            encrypted=self._get_param("Encrypted"),
            kms_key_id=self._get_param("KmsKeyId"),
            role_name=role_name,
            duration=settings.import_duration,
        )
        failure = None
        for disk in disks:
            failure = failure or _role_access_failure(self.current_account, role_name, disk)
            failure = failure or _load_disk(self.current_account, disk)
        if failure:
            task.fail_at = now + _phase_time(IMPORT_PHASES, task.duration, "validating", 0.5)
            task.fail_message = failure
        if STATE.faults.take("import"):
            at = now + _phase_time(IMPORT_PHASES, task.duration, STATE.faults.import_failure_stage, 0.5)
            if task.fail_at is None or at < task.fail_at:
                task.fail_at, task.fail_message = at, STATE.faults.import_failure
        store.import_tasks[task.task_id] = task
        token = self._get_param("ClientToken")
        if token:
            store.client_tokens[("import-image", token)] = (fingerprint, task.task_id)
        return ActionResult(_import_image_result(task.describe(now, settings.cleanup_duration)))


_IMPORT_IMAGE_OUTPUT_KEYS = {
    "Architecture", "Description", "Encrypted", "Hypervisor", "ImageId", "ImportTaskId", "KmsKeyId",
    "LicenseType", "Platform", "Progress", "SnapshotDetails", "Status", "StatusMessage", "Tags",
}


def _import_image_result(described: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in described.items() if k in _IMPORT_IMAGE_OUTPUT_KEYS}


def _lookup_ids(ids: list[str], tasks: dict[str, Any], prefix: str) -> list[Any]:
    found = []
    for task_id in ids:
        if task_id not in tasks:
            if not task_id.startswith(prefix):
                raise _err("InvalidConversionTaskId.Malformed", f"The import task ID '{task_id}' is malformed.")
            raise _err(
                "InvalidConversionTaskId.Malformed",
                f"The import task ID '{task_id}' is malformed or does not exist.",
            )
        found.append(tasks[task_id])
    return found


def describe_import_image_tasks(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        self.error_on_dryrun()
        store = store_for(backend)
        now, cleanup = STATE.clock.now(), STATE.settings.cleanup_duration
        ids = self._get_param("ImportTaskIds", []) or []
        tasks = _lookup_ids(ids, store.import_tasks, "import-ami-") if ids else list(store.import_tasks.values())
        filters = _filter_values(self._get_param("Filters"))
        items = [t.describe(now, cleanup) for t in tasks]
        items = [i for i in items if _match(filters, i, {"task-state": lambda x: x["Status"]})]
        page, token = _paginate(items, self._get_param("MaxResults"), self._get_param("NextToken"))
        result: dict[str, Any] = {"ImportImageTasks": page}
        if token:
            result["NextToken"] = token
        return ActionResult(result)


def cancel_import_task(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        self.error_on_dryrun()
        store = store_for(backend)
        now, cleanup = STATE.clock.now(), STATE.settings.cleanup_duration
        task_id = self._get_param("ImportTaskId")
        if not task_id:
            raise _err("MissingParameter", "The request must contain the parameter ImportTaskId")
        task: ImportImageTask | ImportSnapshotTask
        if task_id in store.import_tasks:
            task = store.import_tasks[task_id]
        elif task_id in store.snapshot_tasks:
            task = store.snapshot_tasks[task_id]
        else:
            _lookup_ids([task_id], {}, "import-")
            raise AssertionError("unreachable")
        status = task.state_at(now, cleanup)[0]
        if status != "active":
            raise _err(
                "IncorrectState",
                f"The import task {task_id} cannot be cancelled because it is in the '{status}' state.",
            )
        task.cancel_at = now
        return ActionResult({"ImportTaskId": task_id, "PreviousState": status, "State": "deleting"})


def import_snapshot(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        store = store_for(backend)
        now, settings = STATE.clock.now(), STATE.settings
        self.error_on_dryrun()
        params = dict(self.params or {})
        fingerprint = _fingerprint(params)
        existing = _idempotent(store, "import-snapshot", self._get_param("ClientToken"), fingerprint)
        if existing:
            return ActionResult(store.snapshot_tasks[existing].describe(now, settings.cleanup_duration))
        raw = self._get_param("DiskContainer")
        if not raw:
            raise _err("InvalidParameter", "The request must contain the parameter DiskContainer")
        if raw.get("SnapshotId"):
            raise _err("InvalidParameter", "ImportSnapshot takes a UserBucket or Url disk container")
        disk = _parse_disk(raw, 0, "snapshot")
        tags = _tags_from_spec(self._get_param("TagSpecifications"), "import-snapshot-task")
        _check_role(self.current_account, self._get_param("RoleName") or DEFAULT_ROLE)
        _check_bucket(self.current_account, self.region, disk.bucket or "", disk.key)
        _check_import_limit(store.snapshot_tasks.values(), now, settings.import_snapshot_limit, "import snapshot")
        task = ImportSnapshotTask(
            task_id=random_id(prefix="import-snap"),
            created_at=now,
            tags=tags,
            fingerprint=fingerprint,
            disk=disk,
            description=self._get_param("Description"),
            encrypted=self._get_param("Encrypted"),
            kms_key_id=self._get_param("KmsKeyId"),
            duration=settings.import_snapshot_duration,
        )
        role_name = self._get_param("RoleName") or DEFAULT_ROLE
        failure = _role_access_failure(self.current_account, role_name, disk) or _load_disk(self.current_account, disk)
        if failure:
            task.fail_at = now + _phase_time(SNAPSHOT_PHASES, task.duration, "validating", 0.5)
            task.fail_message = failure
        store.snapshot_tasks[task.task_id] = task
        token = self._get_param("ClientToken")
        if token:
            store.client_tokens[("import-snapshot", token)] = (fingerprint, task.task_id)
        return ActionResult(task.describe(now, settings.cleanup_duration))


def describe_import_snapshot_tasks(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        self.error_on_dryrun()
        store = store_for(backend)
        now, cleanup = STATE.clock.now(), STATE.settings.cleanup_duration
        ids = self._get_param("ImportTaskIds", []) or []
        tasks = _lookup_ids(ids, store.snapshot_tasks, "import-snap-") if ids else list(store.snapshot_tasks.values())
        filters = _filter_values(self._get_param("Filters"))
        items = [t.describe(now, cleanup) for t in tasks]
        items = [i for i in items if _match(filters, i, {"task-state": lambda x: x["SnapshotTaskDetail"]["Status"]})]
        page, token = _paginate(items, self._get_param("MaxResults"), self._get_param("NextToken"))
        result: dict[str, Any] = {"ImportSnapshotTasks": page}
        if token:
            result["NextToken"] = token
        return ActionResult(result)


def create_instance_export_task(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        store = store_for(backend)
        now, settings = STATE.clock.now(), STATE.settings
        instance_id = self._get_param("InstanceId")
        if not instance_id:
            raise _err("MissingParameter", "The request must contain the parameter InstanceId")
        instance = backend.get_instance(instance_id)  # InvalidInstanceID.NotFound
        target = self._get_param("TargetEnvironment")
        if target not in ("vmware", "citrix", "microsoft"):
            raise _err("InvalidParameter", "TargetEnvironment must be one of vmware, citrix, microsoft")
        spec = self._get_param("ExportToS3Task") or {}
        bucket_name = spec.get("S3Bucket")
        if not bucket_name:
            raise _err("MissingParameter", "The request must contain the parameter ExportToS3Task.S3Bucket")
        disk_format = spec.get("DiskImageFormat") or "VMDK"
        container = spec.get("ContainerFormat")
        if disk_format.upper() != "VMDK":
            raise _err(
                "InvalidParameter",
                f"DiskImageFormat {disk_format} is not supported by the sandbox; export as VMDK (optionally in an OVA)",
            )
        if container and container != "ova":
            raise _err("InvalidParameter", f"Invalid ContainerFormat '{container}'. Valid values: ova")
        description = self._get_param("Description")
        if description and len(description) > 255:
            raise _err("InvalidParameter", "Description must be at most 255 characters")
        tags = _tags_from_spec(self._get_param("TagSpecifications"), "export-instance-task")

        if instance.image_id not in store.imported_images:
            raise _err("NotExportable", "Only imported instances can be exported.")
        if instance.state not in ("running", "stopped", "pending", "stopping"):
            raise _err(
                "IncorrectInstanceState",
                f"The instance '{instance_id}' is not in a state from which it can be exported.",
            )
        _check_export_grant(_check_bucket(self.current_account, self.region, bucket_name), self.region)
        cleanup = settings.cleanup_duration
        busy = [t for t in store.export_tasks.values() if t.state_at(now, cleanup)[0] in EXPORT_ACTIVE_STATES]
        for t in busy:
            if t.instance_id == instance_id:
                raise _err(
                    "IncorrectState",
                    f"Instance {instance_id} already has an export task in progress ({t.task_id}).",
                )
        if len(busy) >= settings.export_limit:
            raise _err(
                "ResourceLimitExceeded",
                f"You have reached the limit of {settings.export_limit} export tasks in progress in this region. "
                "Wait for an export to finish or cancel one, then try again.",
            )

        from moto.ec2.models.instance_types import INSTANCE_TYPES

        itype = INSTANCE_TYPES.get(instance.instance_type, {})
        task_id = random_id(prefix="export-i")
        prefix = spec.get("S3Prefix") or ""
        ext = "ova" if container == "ova" else disk_format.lower()
        task = ExportTask(
            task_id=task_id,
            created_at=now,
            tags=tags,
            instance_id=instance_id,
            image_id=instance.image_id,
            target_environment=target,
            disk_image_format=disk_format,
            container_format=container,
            bucket=bucket_name,
            prefix=prefix,
            key=f"{prefix}{task_id}.{ext}",
            description=description,
            duration=settings.export_duration,
            vcpus=int(itype.get("VCpuInfo", {}).get("DefaultVCpus", 1)),
            memory_mib=int(itype.get("MemoryInfo", {}).get("SizeInMiB", 1024)),
        )
        if STATE.faults.take("export"):
            task.fail_at = task.finalizing_start()
            task.fail_message = STATE.faults.export_failure
        store.export_tasks[task_id] = task
        return ActionResult({"ExportTask": task.describe(now, cleanup)})


def _export_lookup(store: VmieStore, task_id: str) -> ExportTask:
    task = store.export_tasks.get(task_id)
    if task is None:
        raise _err("InvalidExportTaskID.NotFound", f"The export task ID '{task_id}' does not exist")
    return task


_EXPORT_FILTERS = {
    "state": lambda x: x["State"],
    "task-state": lambda x: x["State"],
    "instance-id": lambda x: x["InstanceExportDetails"]["InstanceId"],
}


def describe_export_tasks(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        store = store_for(backend)
        now, cleanup = STATE.clock.now(), STATE.settings.cleanup_duration
        ids = self._get_param("ExportTaskIds", []) or []
        tasks = [_export_lookup(store, i) for i in ids] if ids else list(store.export_tasks.values())
        filters = _filter_values(self._get_param("Filters"))
        items = [t.describe(now, cleanup) for t in tasks]
        items = [i for i in items if _match(filters, i, _EXPORT_FILTERS)]
        return ActionResult({"ExportTasks": items})


def cancel_export_task(self: EC2Response) -> ActionResult:
    with LOCK:
        backend = self.ec2_backend
        tick_backend(backend)
        store = store_for(backend)
        now, cleanup = STATE.clock.now(), STATE.settings.cleanup_duration
        task_id = self._get_param("ExportTaskId")
        if not task_id:
            raise _err("MissingParameter", "The request must contain the parameter ExportTaskId")
        task = _export_lookup(store, task_id)
        state, _ = task.state_at(now, cleanup)
        if state == "completed":
            raise _err("IncorrectState", f"Export task {task_id} is already completed and cannot be cancelled.")
        if state in ("cancelling", "cancelled"):
            raise _err("IncorrectState", f"Export task {task_id} is already {state}.")
        if now >= task.finalizing_start():
            raise _err(
                "IncorrectState",
                f"Export task {task_id} is transferring the final disk image and can no longer be cancelled.",
            )
        task.cancel_at = now
        return EmptyResult()


ACTIONS = {
    "import_image": import_image,
    "describe_import_image_tasks": describe_import_image_tasks,
    "cancel_import_task": cancel_import_task,
    "import_snapshot": import_snapshot,
    "describe_import_snapshot_tasks": describe_import_snapshot_tasks,
    "create_instance_export_task": create_instance_export_task,
    "describe_export_tasks": describe_export_tasks,
    "cancel_export_task": cancel_export_task,
}


def _merged_mappings(ami_mappings: list[dict[str, Any]], requested: list[dict[str, Any]] | None
                     ) -> list[dict[str, Any]]:
    """The AMI's mappings overlaid with the RunInstances ones (same DeviceName: the request's fields win, and the
    AMI's SnapshotId stays: a bigger VolumeSize grows the volume made from the snapshot, it does not replace it)."""
    merged = {m["DeviceName"]: m for m in ami_mappings}
    for m in requested or []:
        name, base = m["DeviceName"], merged.get(m["DeviceName"])
        if m.get("NoDevice") is not None or base is None or "Ebs" not in base:
            merged[name] = m  # NoDevice "" suppresses the AMI's device (moto then skips it)
            continue
        # moto's parsed request names every EBS field, None where the request gave none
        ebs = {k: v for k, v in (m.get("Ebs") or {}).items() if v is not None}
        merged[name] = {**base, "Ebs": {**base["Ebs"], **ebs}}
    return list(merged.values())


def _check_volume_sizes(backend: Any, mappings: list[dict[str, Any]]) -> None:
    """EbsBlockDevice.VolumeSize: "If you specify a snapshot, the default is the snapshot size. You can specify a
    volume size that is equal to or larger than the snapshot size." A smaller one is refused."""
    for m in mappings:
        ebs = m.get("Ebs") or {}
        if not ebs.get("SnapshotId") or ebs.get("VolumeSize") in (None, ""):
            continue
        snapshot = backend.get_snapshot(ebs["SnapshotId"])  # InvalidSnapshot.NotFound
        needed = int(snapshot.volume.size)
        if int(ebs["VolumeSize"]) < needed:
            raise _err("InvalidBlockDeviceMapping",
                       f"Volume of size {int(ebs['VolumeSize'])}GB is smaller than snapshot '{ebs['SnapshotId']}', "
                       f"expect size >= {needed}GB")


# ----------------------------------------------------------------------------------------------------
# ENA. An AMI's EnaSupport is what RegisterImage was given (unset: false), what CreateImage's instance had (from its
# AMI), what CopyImage's source had; moto keeps none of it. Instance types whose NetworkInfo.EnaSupport is
# "required" (every Nitro type: t3, m5, m6i, c5, ...) refuse an AMI without it.
# ----------------------------------------------------------------------------------------------------

MSG_ENA_REQUIRED = ("Enhanced networking with the Elastic Network Adapter (ENA) is required for the '{}' instance "
                    "type. Ensure that you are using an AMI that is enabled for ENA.")


def import_enables_ena(platform: str | None) -> bool:
    """Whether an import of this platform leaves the ENA driver in the image and registers the AMI with
    EnaSupport. VM Import/Export installs AWS's drivers (ENA among them) into Windows Server; into Linux it puts
    only what boots on Xen (Citrix PV drivers), so a Linux import is not ENA-enabled."""
    return (platform or "").lower() == "windows"


def ami_ena_support(ami: Any) -> bool:
    # moto's stock AMIs (never registered through the sandbox) stand for today's public AMIs, all ENA-enabled
    return bool(getattr(ami, "ena_support", True))


def _ena_required(instance_type: str) -> bool:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    return INSTANCE_TYPES.get(instance_type, {}).get("NetworkInfo", {}).get("EnaSupport") == "required"


def _with_ena_attribute(original: Any, ena_of: Any) -> Any:
    """Wrap an EC2Response AMI-creating action: set the new AMI's ena_support from ``ena_of(response, backend)``."""

    def action(self: EC2Response) -> Any:
        result = original(self)
        image_id = (getattr(result, "result", None) or {}).get("ImageId")
        ami = self.ec2_backend.amis.get(image_id) if image_id else None
        if ami is not None:
            ami.ena_support = bool(ena_of(self, self.ec2_backend))
        return result

    action._sandbox_wrapped = True  # type: ignore[attr-defined]
    return action


def _registered_ena(response: EC2Response, backend: Any) -> bool:
    return str(response._get_param("EnaSupport", "false")).lower() == "true"


def _created_ena(response: EC2Response, backend: Any) -> bool:
    instance = backend.get_instance(response._get_param("InstanceId"))
    source = backend.amis.get(instance.image_id)
    return ami_ena_support(source) if source is not None else True


def _copied_ena(response: EC2Response, backend: Any) -> bool:
    source = backend.amis.get(response._get_param("SourceImageId"))
    return ami_ena_support(source) if source is not None else True


# What moto's RunInstances response handler passes when the request carries no ClientToken.
_MOTO_NO_CLIENT_TOKEN = "ABCDE"


def _run_instances_with_ami_mappings(original: Any) -> Any:
    """moto's RunInstances ignores the AMI's block device mappings (one 8 GiB root); AWS gives a volume per
    mapping, so an instance of a multi-disk import gets every disk."""

    def run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: Any,
                      **kwargs: Any) -> Any:
        # AWS answers a repeated ClientToken with the reservation it made the first time (moto stores the token
        # but launches again), so a worker that crashed before saving the instance id gets the same instance back.
        token = kwargs.get("client_token")
        if token and token != _MOTO_NO_CLIENT_TOKEN:
            for reservation in getattr(self, "reservations", {}).values():
                if any(getattr(i, "client_token", None) == token for i in reservation.instances):
                    return reservation
        ami = getattr(self, "amis", {}).get(image_id)
        instance_type = kwargs.get("instance_type") or "m1.small"
        if ami is not None and _ena_required(instance_type) and not ami_ena_support(ami):
            raise _err("InvalidParameterCombination", MSG_ENA_REQUIRED.format(instance_type))
        requested = kwargs.get("block_device_mappings")
        if (ami is not None and (isinstance(ami, ImportedAmi) or requested)
                and not kwargs.get("launch_template") and not kwargs.get("launch_config")):
            # moto launches only the requested devices (dropping the AMI's snapshot) or one blank root volume
            merged = _merged_mappings(ami.block_device_mappings, requested)
            _check_volume_sizes(self, merged)
            kwargs["block_device_mappings"] = merged
        return original(self, image_id, count, user_data, security_group_names, **kwargs)

    run_instances._sandbox_wrapped = True  # type: ignore[attr-defined]
    return run_instances


def install() -> None:
    """Add the VM Import/Export actions to moto's EC2 responses. Safe to call any number of times."""
    with LOCK:
        if getattr(EC2Response, "_sandbox_vmie_installed", False):
            return
        for name, func in ACTIONS.items():
            setattr(EC2Response, name, func)
        from moto.ec2.models import EC2Backend

        if not getattr(EC2Backend.run_instances, "_sandbox_wrapped", False):
            EC2Backend.run_instances = _run_instances_with_ami_mappings(EC2Backend.run_instances)
        for name, ena_of in (("register_image", _registered_ena), ("create_image", _created_ena),
                             ("copy_image", _copied_ena)):
            if not getattr(getattr(EC2Response, name), "_sandbox_wrapped", False):
                setattr(EC2Response, name, _with_ena_attribute(getattr(EC2Response, name), ena_of))
        EC2Response._sandbox_vmie_installed = True  # type: ignore[attr-defined]


def installed() -> bool:
    return bool(getattr(EC2Response, "_sandbox_vmie_installed", False))


def create_vmimport_role(
    account_id: str = "123456789012", role_name: str = DEFAULT_ROLE, buckets: list[str] | None = None
) -> str:
    """Create the VM Import service role (trust: vmie.amazonaws.com, ExternalId vmimport) + its policy.

    Returns the role ARN; if the role already exists, returns its ARN unchanged.
    """
    iam = iam_backends[account_id]["aws"]
    existing = next((r for r in iam.get_roles() if r.name == role_name), None)
    if existing is not None:
        return existing.arn
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": VMIE_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:Externalid": "vmimport"}},
            }
        ],
    }
    role = iam.create_role(role_name, json.dumps(trust), "/", None, "VM Import/Export service role", [], None)
    resources = [f"arn:aws:s3:::{b}" for b in (buckets or ["*"])] + [
        f"arn:aws:s3:::{b}/*" for b in (buckets or ["*"])
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:PutObject",
                           "s3:GetBucketAcl"],
                "Resource": resources,
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:ModifySnapshotAttribute", "ec2:CopySnapshot", "ec2:RegisterImage", "ec2:Describe*"],
                "Resource": "*",
            },
        ],
    }
    iam.put_role_policy(role_name, "vmimport", json.dumps(policy))
    return role.arn
