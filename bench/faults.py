"""Fault benchmark: kill -9 of a migration worker in every phase, with cancels mixed in, then the orphan sweep.

    .venv/bin/python bench/faults.py [--trials-per-phase 4] [--database-url postgres://...] [--keep-logs]

One run starts both sandboxes (the vCenter simulator, the AWS sandbox as its own ``python -m sandbox.aws`` process
at speed 1 with a 3 s import), a portal database (a fresh SQLite file by default) with one tenant wired to both,
and then, per trial, a real worker process (this script with ``--worker``: ``django.setup()``, then
``core.jobs.tasks.job_tick("migration", id)`` until the job is finished) that is SIGKILLed at a chosen point of a phase:

* export   before ``lease_wait_ready`` (the NFC lease exists and is checkpointed; no disk read yet);
* upload   right after the n-th ``UploadPart`` returned; or, with no pause, as soon as the row reports two parts
           uploaded while NFC is throttled to 4 MiB/s (a plain kill mid-transfer, parts in flight);
* convert  right after ``ImportImage`` returned, before its task id is saved; or after the first describe;
* launch   right after ``RunInstances`` returned, before the instance id is saved; or before the staged disks
           are deleted (the instance recorded, the job not yet completed);
* cleanup  the job is cancelled while uploading or converting and the worker is killed before its first release
           call (abort upload, delete staged disk, cancel import, terminate, deregister).

The point is reached by wrapping that adapter function inside the worker (it writes a marker file and sleeps),
so the kill lands exactly there: no other peer can produce "killed between the AWS answer and the checkpoint".
In the trials marked ``cancel``, the job is cancelled while its worker is dead. A second worker then finishes the
job (after the dead worker's lease runs out). Checked per trial: the job ends ``completed``, or ``cancelled`` where a
cancel was asked. After all trials the orphan sweep runs once (``portal.site.sweep.orphan_sweep`` with
min age 0), and the sandbox is counted:

* duplicate_imports: ImportImage tasks per migration beyond the first, plus instances per migration (tag) and per
  RunInstances ClientToken beyond the first;
* orphans: unfinished multipart uploads, staged objects, images, snapshots and not-terminated instances that no
  completed migration keeps (counted before the sweep too, for information);
* resent_parts_per_fault: UploadPart calls for a part number already sent in the same upload, per upload-phase
  fault that resumed (the worker logs every call before making it).

Last line: ``faults trials=N completed_or_cancelled=N duplicate_imports=0 orphans=0 resent_parts_per_fault=X``.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from processes import stop  # bench/processes.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024
PHASES = ("export", "upload", "convert", "launch", "cleanup")
CLEANUP_CALLS = ("multipart_abort", "object_delete", "import_image_cancel", "instance_terminate", "image_deregister",
                 "image_delete", "objects_delete_under")
VM_COUNT = 4
DISK_MIB = 24
PART_MIB = 5
WORKER_ENV = {
    "MIGRATION_LEASE_SECONDS": "3",
    "MIGRATION_POLL_SECONDS": "0.2",
    "MIGRATION_INLINE_WAIT_SECONDS": "5",
    "MIGRATION_TICK_BUDGET_SECONDS": "60",
    "MIGRATION_PART_SIZE": str(PART_MIB * MIB),
    "OUTBOUND_ALLOW_HTTP": "true",
    "OUTBOUND_ALLOWED_CIDRS": "127.0.0.0/8",
    "Q_WORKERS": "1",
}


# --------------------------------------------------------------------------------------------------------------
# worker side: one process per attempt, killed by the orchestrator at the pause point
# --------------------------------------------------------------------------------------------------------------

def _install_pause(spec: dict, marker: str) -> None:
    """Wrap the adapter functions named in `spec`; at the chosen call the worker writes `marker` and sleeps until
    it is killed. Every thread that reaches a wrapped function after that sleeps too, so nothing moves on."""
    import threading

    from adapters.aws import client as aws
    from adapters.vsphere import client as vsphere

    reached = threading.Event()
    calls = collections.Counter()
    lock = threading.Lock()

    def park():
        reached.set()
        with open(marker, "w") as fh:
            fh.write(json.dumps(spec))
        while True:
            time.sleep(3600)

    def wrap(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if reached.is_set():
                park()
            with lock:
                calls[name] += 1
                hit = calls[name] == spec["nth"] and name in spec["functions"]
            if hit and spec["when"] == "before":
                park()
            result = original(*args, **kwargs)
            if hit and spec["when"] == "after":
                park()
            return result

        setattr(owner, name, wrapper)

    for name in spec["functions"]:
        if name == "lease_wait_ready":
            wrap(vsphere.VCenterSession, name)
        elif hasattr(aws, name):
            wrap(aws, name)


def _log_parts(path: str) -> None:
    """Append "upload_id part_number" for every UploadPart, before it is sent (a kill mid-send still counts)."""
    from adapters.aws import client as aws

    original = aws.multipart_upload_part

    def logged(s3, bucket, key, upload_id, part_number, *args, **kwargs):
        with open(path, "a") as fh:
            fh.write(f"{upload_id} {part_number}\n")
        return original(s3, bucket, key, upload_id, part_number, *args, **kwargs)

    aws.multipart_upload_part = logged


def worker(task_id: int, pause: str, marker: str, parts_log: str) -> int:
    import django

    django.setup()
    from migrations_app.choices import TERMINAL
    from migrations_app.models import MigrationTask
    from core.jobs.tasks import job_tick

    _log_parts(parts_log)  # first, so that the pause wrapper (outermost) parks before the call is logged
    if pause:
        _install_pause(json.loads(pause), marker)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = MigrationTask.objects.filter(pk=task_id).values_list("state", flat=True).first()
        if state is None or state in TERMINAL:
            return 0
        if job_tick("migration", task_id) == "busy":
            time.sleep(0.25)  # the dead worker's lease has not run out yet
    return 1


# --------------------------------------------------------------------------------------------------------------
# orchestrator side
# --------------------------------------------------------------------------------------------------------------

@dataclass
class Trial:
    phase: str
    functions: tuple[str, ...]
    when: str  # before | after
    nth: int = 1
    cancel: bool = False  # cancel while the worker is dead (cleanup trials cancel while it runs)
    cancel_at: str = ""  # cleanup trials: uploading | converting
    kill_at_bytes: int = 0  # no pause: SIGKILL as soon as the row says this many bytes are uploaded (NFC throttled)
    # results
    task_id: int = 0
    faulted: bool = False
    state_at_kill: str = ""
    step_at_kill: str = ""
    final_state: str = ""
    final_message: str = ""
    seconds: float = 0.0
    resent: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.kill_at_bytes:
            return f"{self.phase:<8} polled: kill at {self.kill_at_bytes // MIB} MiB uploaded (no pause)"
        where = f"{self.when} {'/'.join(self.functions) if len(self.functions) < 3 else 'first release call'}"
        if self.nth > 1:
            where += f" #{self.nth}"
        extra = f", cancel at {self.cancel_at}" if self.cancel_at else (", cancel while dead" if self.cancel else "")
        return f"{self.phase:<8} {where}{extra}"

    @property
    def cancel_asked(self) -> bool:
        return self.cancel or bool(self.cancel_at)

    @property
    def ok(self) -> bool:
        return self.final_state == "completed" or (self.cancel_asked and self.final_state == "cancelled")


def plan(per_phase: int) -> list[Trial]:
    variants = {
        "export": [Trial("export", ("lease_wait_ready",), "before"),
                   Trial("export", ("lease_wait_ready",), "before", cancel=True)],
        "upload": [Trial("upload", ("multipart_upload_part",), "after", nth=2),
                   Trial("upload", (), "", kill_at_bytes=2 * PART_MIB * MIB),
                   Trial("upload", ("multipart_upload_part",), "after", nth=3),
                   Trial("upload", ("multipart_upload_part",), "after", nth=2, cancel=True)],
        "convert": [Trial("convert", ("import_image",), "after"),
                    Trial("convert", ("import_image",), "after", cancel=True),
                    Trial("convert", ("import_image_describe",), "after"),
                    Trial("convert", ("import_image_describe",), "after", cancel=True)],
        "launch": [Trial("launch", ("run_instance",), "after"),
                   Trial("launch", ("run_instance",), "after", cancel=True),
                   Trial("launch", ("object_delete",), "before"),
                   Trial("launch", ("object_delete",), "before", cancel=True)],
        "cleanup": [Trial("cleanup", CLEANUP_CALLS, "before", cancel_at="uploading"),
                    Trial("cleanup", CLEANUP_CALLS, "before", cancel_at="converting")],
    }
    trials = []
    for phase in PHASES:
        options = variants[phase]
        for i in range(per_phase):
            t = options[i % len(options)]
            trials.append(Trial(t.phase, t.functions, t.when, t.nth, t.cancel, t.cancel_at, t.kill_at_bytes))
    return trials


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_aws(logdir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    log = open(logdir / "aws-sandbox.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.aws", "--port", str(port), "--speed", "1", "--vmimport-role",
         "--no-default-amis", "--import-duration", "3", "--cleanup-duration", "1", "--export-duration", "3",
         "--quiet"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    from sandbox.aws import connect

    remote = connect(url)
    deadline = time.monotonic() + 60
    while True:
        try:
            remote.state()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"the AWS sandbox did not start; see {logdir}/aws-sandbox.log")
            time.sleep(0.2)


def _inventory() -> dict:
    from sandbox.vcenter.inventory import default_inventory

    inv = default_inventory()
    inv["lease_init_seconds"] = 0.05
    inv["datacenters"][0]["vms"] = [
        {"name": f"fault{i:02d}", "folder": "Production/Linux", "guest_id": "ubuntu64Guest",
         "power_state": "poweredOff", "disks": [{"size_mb": DISK_MIB, "datastore": "datastore1",
                                                 "used_fraction": 1.0}]}
        for i in range(VM_COUNT)]
    return inv


class Bench:
    def __init__(self, vc, aws_url: str, logdir: Path):
        self.vc, self.aws_url, self.logdir = vc, aws_url, logdir
        from sandbox.aws import connect

        self.aws = connect(aws_url)
        self.ec2, self.s3 = self.aws.client("ec2"), self.aws.client("s3")

    # -- the portal side ------------------------------------------------------------------------------------------

    def setup_portal(self) -> None:
        from environments import services as env_services
        from environments.choices import EnvironmentRole
        from environments.models import SecurityGroup, Subnet
        from core import services
        from core.models import TenantAwsAccount, TenantVCenter
        from adapters.outbound import OutboundPolicy
        from adapters.vsphere.client import VCenterConnection, session

        password = "correct-horse-battery-9"
        slug = f"faults{int(time.time()) % 100000}"
        self.tenant = services.tenant_create(actor=None, name=f"Faults {slug}", slug=slug)
        admin = services.user_create(actor=None, tenant=self.tenant, username=f"{slug}-admin", role="admin",
                                     password=password)
        self.alice = services.user_create(actor=None, tenant=self.tenant, username=f"{slug}-alice", role="user",
                                          password=password, vcenter_principal="VSPHERE.LOCAL\\alice")
        TenantAwsAccount.objects.create(tenant=self.tenant, access_key_id="AKIAIOSFODNN7EXAMPLE",
                                        secret_access_key="sandbox-secret")
        TenantVCenter.objects.create(tenant=self.tenant, url=self.vc.url, username=self.vc.username,
                                     password=self.vc.password)
        region = env_services.region_create(actor=admin, code="us-east-1")
        self.environment = region.environments.get(is_default=True)
        env_services.environment_sync(actor=admin, environment=self.environment)
        env_services.environment_grant(actor=admin, environment=self.environment, principal=self.alice,
                                       role=EnvironmentRole.GENERAL)
        self.subnet = Subnet.objects.filter(environment=self.environment).order_by("subnet_id").first()
        self.security_group = SecurityGroup.objects.filter(environment=self.environment).first()
        with session(VCenterConnection(url=self.vc.url, username=self.vc.username, password=self.vc.password,
                                       outbound=OutboundPolicy(allow_http=True,
                                                               allowed_cidrs=("127.0.0.0/8",)))) as vc:
            self.vms = sorted(vm.moref for vm in vc.list_vms() if vm.name.startswith("fault"))

    def start_migration(self, n: int):
        from migrations_app.requests import MigrationTarget
        from migrations_app.services import migration_start

        return migration_start(actor=self.alice, target=MigrationTarget(
            vm_moref=self.vms[n % len(self.vms)], environment_id=self.environment.pk,
            operating_system="ubuntu-22.04", instance_type="t3.micro", subnet_id=self.subnet.pk,
            security_group_id=self.security_group.pk))

    def row(self, task_id: int):
        from migrations_app.models import MigrationTask

        return MigrationTask.objects.get(pk=task_id)

    def cancel(self, task_id: int) -> None:
        from migrations_app.services import migration_cancel

        migration_cancel(actor=self.alice, task=self.row(task_id))

    # -- workers --------------------------------------------------------------------------------------------------

    def worker(self, task_id: int, pause: dict | None, marker: Path) -> subprocess.Popen:
        log = open(self.logdir / f"worker-{task_id}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(task_id), "--pause", json.dumps(pause) if pause else "",
             "--marker", str(marker), "--parts-log", str(self.logdir / f"parts-{task_id}.log")],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        return proc

    @staticmethod
    def kill9(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def run_trial(self, n: int, trial: Trial) -> None:
        started = time.monotonic()
        if trial.cancel_at == "uploading" or trial.kill_at_bytes:
            self.vc.set_faults(nfc_bytes_per_second=4 * MIB)  # slow enough for the cancel to land mid-upload
        task = self.start_migration(n)
        trial.task_id = task.pk
        marker = self.logdir / f"paused-{task.pk}"
        pause = {"functions": list(trial.functions), "when": trial.when, "nth": trial.nth} if trial.functions else None
        first = self.worker(task.pk, pause, marker)
        try:
            deadline = time.monotonic() + 90
            cancelled = False
            polled = False
            while time.monotonic() < deadline and not marker.exists() and first.poll() is None:
                if trial.kill_at_bytes:
                    row = self.row(task.pk)
                    if row.state == "uploading" and row.bytes_uploaded >= trial.kill_at_bytes:
                        polled = True
                        break
                if trial.cancel_at and not cancelled:
                    row = self.row(task.pk)
                    if (trial.cancel_at == "uploading" and row.state == "uploading" and row.bytes_uploaded > 0) or (
                            trial.cancel_at == "converting" and row.state == "converting" and row.import_task_id):
                        self.cancel(task.pk)
                        cancelled = True
                time.sleep(0.05)
            trial.faulted = marker.exists() or polled
            row = self.row(task.pk)
            trial.state_at_kill, trial.step_at_kill = row.state, row.step
        finally:
            self.kill9(first)
            self.vc.clear_faults()
        if not trial.faulted:
            trial.notes.append(f"the pause point was not reached (worker exit {first.returncode})")
        if trial.cancel:
            self.cancel(task.pk)
        second = self.worker(task.pk, None, marker.with_suffix(".unused"))
        try:
            second.wait(timeout=180)
        except subprocess.TimeoutExpired:
            trial.notes.append("the resuming worker did not finish in 180 s")
        finally:
            if second.poll() is None:
                self.kill9(second)
        row = self.row(task.pk)
        trial.final_state, trial.final_message = row.state, row.status_message
        trial.seconds = time.monotonic() - started
        parts = collections.Counter(
            tuple(line.split()) for line in (self.logdir / f"parts-{task.pk}.log").read_text().splitlines()
            if len(line.split()) == 2) if (self.logdir / f"parts-{task.pk}.log").exists() else collections.Counter()
        trial.resent = sum(c - 1 for c in parts.values())

    # -- counting in the sandbox ----------------------------------------------------------------------------------

    def duplicates(self, task_ids: list[int]) -> tuple[int, list[str]]:
        details = []
        imports = collections.Counter()
        for page in self.ec2.get_paginator("describe_import_image_tasks").paginate():
            for t in page["ImportImageTasks"]:
                tags = {x["Key"]: x["Value"] for x in t.get("Tags", [])}
                imports[tags.get("portal-migration")] += 1
        by_token, by_tag = collections.Counter(), collections.Counter()
        for reservation in self.ec2.describe_instances()["Reservations"]:
            for i in reservation["Instances"]:
                tags = {x["Key"]: x["Value"] for x in i.get("Tags", [])}
                if "portal-migration" in tags:
                    by_tag[tags["portal-migration"]] += 1
                    by_token[i.get("ClientToken") or i["InstanceId"]] += 1
        # Counted: ImportImage tasks per migration and instances per RunInstances ClientToken beyond the first;
        # instances per migration tag are shown beside them (the same instance counted twice is not added).
        count = 0
        for pk in map(str, task_ids):
            if imports[pk] > 1:
                count += imports[pk] - 1
                details.append(f"migration {pk}: {imports[pk]} ImportImage tasks")
            if by_tag[pk] > 1:
                details.append(f"migration {pk}: {by_tag[pk]} instances")
        for token, n in by_token.items():
            if n > 1:
                count += n - 1
                details.append(f"client token {token}: {n} instances")
        return count, details

    def orphans(self) -> tuple[int, list[str]]:
        from migrations_app.models import MigrationTask

        done = MigrationTask.objects.filter(tenant=self.tenant, state="completed")
        kept_instances = set(done.values_list("instance_id", flat=True))
        kept_images = set(done.values_list("image_id", flat=True))
        found = []
        for bucket in [b["Name"] for b in self.s3.list_buckets().get("Buckets", [])]:
            found += [f"upload s3://{bucket}/{u['Key']}" for u in
                      self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
            found += [f"object s3://{bucket}/{o['Key']}" for o in
                      self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
                      if o["Key"].startswith(f"{self.tenant.slug}/migration-")]
        kept_snapshots = set()
        for image in self.ec2.describe_images(Owners=["self"])["Images"]:
            snaps = {m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", [])
                     if m.get("Ebs", {}).get("SnapshotId")}
            if image["ImageId"] in kept_images:
                kept_snapshots |= snaps
            else:
                found.append(f"image {image['ImageId']}")
        for t in self.ec2.describe_import_image_tasks()["ImportImageTasks"]:
            if t.get("ImageId") in kept_images:
                kept_snapshots |= {d["SnapshotId"] for d in t.get("SnapshotDetails", []) if d.get("SnapshotId")}
        found += [f"snapshot {s['SnapshotId']}" for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
                  if s["SnapshotId"] not in kept_snapshots]
        for reservation in self.ec2.describe_instances()["Reservations"]:
            for i in reservation["Instances"]:
                if i["State"]["Name"] not in ("shutting-down", "terminated") and i["InstanceId"] not in kept_instances:
                    found.append(f"instance {i['InstanceId']} ({i['State']['Name']})")
        return len(found), found

    def imports_active(self) -> int:
        return sum(t.get("Status") == "active" for t in self.ec2.describe_import_image_tasks()["ImportImageTasks"])


def _configure_django(database_url: str, aws_url: str) -> None:
    os.environ.update(WORKER_ENV)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": database_url,
                       "AWS_ENDPOINT_URL": aws_url})
    os.environ.setdefault("DJANGO_DEBUG", "true")
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    # The orchestrator's own portal calls (create, cancel, sweep) log at INFO; the trial lines are the output.
    for name in ("portal", "django-q", "django_q", "axes"):
        logging.getLogger(name).setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/faults.py", description=__doc__.splitlines()[0])
    p.add_argument("--trials-per-phase", type=int, default=4)
    p.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset of " + ",".join(PHASES))
    p.add_argument("--database-url", help="default: a fresh SQLite file in the log directory")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--pause", default="", help=argparse.SUPPRESS)
    p.add_argument("--marker", help=argparse.SUPPRESS)
    p.add_argument("--parts-log", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.pause, args.marker, args.parts_log)

    # `timeout` and Ctrl-C alike: unwind, so that the sandboxes started below are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    logdir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    database_url = args.database_url or f"sqlite:///{logdir / 'faults.sqlite3'}"
    phases = [x for x in args.phases.split(",") if x]
    trials = [t for t in plan(args.trials_per_phase) if t.phase in phases]
    print(f"bench/faults.py: {len(trials)} trials ({', '.join(phases)}), disks {DISK_MIB} MiB, parts {PART_MIB} "
          f"MiB, lease {WORKER_ENV['MIGRATION_LEASE_SECONDS']} s; database {database_url.split('@')[-1]}; "
          f"logs {logdir}; {os.cpu_count()} CPUs", flush=True)
    aws_proc, aws_url = _start_aws(logdir)
    failed = True
    try:
        _configure_django(database_url, aws_url)
        from sandbox.vcenter.server import start_vcenter

        with start_vcenter(inventory=_inventory(), https=False) as vc:
            bench = Bench(vc, aws_url, logdir)
            bench.setup_portal()
            print(f"sandboxes and portal ready after {time.perf_counter() - started:.1f} s", flush=True)
            for n, trial in enumerate(trials):
                bench.run_trial(n, trial)
                mark = "ok " if trial.ok else "BAD"
                print(f"  {mark} #{n + 1:<2} {trial.label:<62} killed in {trial.state_at_kill or '-':<10} -> "
                      f"{trial.final_state:<9} {trial.seconds:5.1f} s"
                      + (f"  resent parts {trial.resent}" if trial.phase == "upload" else "")
                      + (f"  [{'; '.join(trial.notes)}]" if trial.notes else "")
                      + ("" if trial.ok else f"  message: {trial.final_message}"), flush=True)
            task_ids = [t.task_id for t in trials]
            duplicates, duplicate_details = bench.duplicates(task_ids)
            before, before_details = bench.orphans()

            from portal.site.sweep import orphan_sweep

            swept = []
            # The sweep cancels imports no live job owns; a cancelled import ends `deleting` -> `deleted`, and one
            # that completed meanwhile leaves an image: a second pass after AWS settles removes that too.
            for _ in range(2):
                swept += orphan_sweep(min_age_seconds=0)
                deadline = time.monotonic() + 30
                while bench.imports_active() and time.monotonic() < deadline:
                    time.sleep(0.5)
                time.sleep(1.5)
            after, after_details = bench.orphans()
            # Counted again after the sweep: the sweep must not have made anything twice, nor removed a result.
            duplicates_after, _ = bench.duplicates(task_ids)
        failed = False
    finally:
        stop(aws_proc)
        if failed or args.keep_logs:
            print(f"logs kept in {logdir}", file=sys.stderr)
        else:
            shutil.rmtree(logdir, ignore_errors=True)

    ok = sum(t.ok for t in trials)
    faulted = sum(t.faulted for t in trials)
    upload_resumed = [t for t in trials if t.phase == "upload" and t.faulted and not t.cancel]
    resent = sum(t.resent for t in upload_resumed) / len(upload_resumed) if upload_resumed else 0.0
    print()
    print("per phase (ok/trials): " + ", ".join(
        f"{ph} {sum(t.ok for t in trials if t.phase == ph)}/{sum(t.phase == ph for t in trials)}" for ph in phases))
    print(f"kills at the pause point: {faulted}/{len(trials)}; cancels asked: {sum(t.cancel_asked for t in trials)}, "
          f"ended cancelled: {sum(t.final_state == 'cancelled' for t in trials)}")
    for t in trials:
        if not t.ok:
            print(f"  NOT OK: migration {t.task_id} ({t.label}): {t.final_state}: {t.final_message}")
    print(f"duplicates: {duplicates}" + (f" ({'; '.join(duplicate_details)})" if duplicate_details else ""))
    print(f"orphans before the sweep: {before}" + (f" ({'; '.join(before_details[:12])}"
                                                  f"{' ...' if len(before_details) > 12 else ''})" if before else ""))
    removed = [r for r in swept if r.removed]
    kinds = collections.Counter(r.kind for r in removed)
    print(f"sweep removed {len(removed)}: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
          + (f"; not removed: {[(r.kind, r.resource, r.problem) for r in swept if r.problem]}"
             if any(r.problem for r in swept) else ""))
    print(f"orphans after the sweep: {after}" + (f" ({'; '.join(after_details)})" if after else ""))
    if duplicates_after != duplicates:
        print(f"duplicates changed across the sweep: {duplicates} -> {duplicates_after}")
    print(f"resent parts: {sum(t.resent for t in upload_resumed)} over {len(upload_resumed)} resumed upload faults")
    print(f"total run time {time.perf_counter() - started:.1f} s")
    print(f"faults trials={len(trials)} completed_or_cancelled={ok} duplicate_imports={duplicates} orphans={after} "
          f"resent_parts_per_fault={resent:.2f}", flush=True)
    return 0 if ok == len(trials) and duplicates == 0 and after == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
