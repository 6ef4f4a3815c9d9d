"""Fault benchmark: kill -9 of a job worker in every platform step of each job kind (migrations, exports, backups,
launches), throttles and 5xx bursts in each kind's AWS calls, cancels mixed in, then the orphan sweep.

    .venv/bin/python bench/faults.py [--kinds migration,export,backup,launch] [--trials-per-phase 4]
                                     [--phases ...] [--database-url postgres://...] [--keep-logs]

One run starts both sandboxes (the vCenter simulator, the AWS sandbox as its own ``python -m sandbox.aws`` process
at speed 1 with a 3 s import and a 4 s export), a portal database (a fresh SQLite file by default) with one tenant
wired to both, and then, per trial, real worker processes (this script's ``--worker``: ``django.setup()``, then
``core.jobs.tasks.job_tick(kind, id)`` until the job is finished; the bench forks them from a process that
has done the set-up once, ``--zygote``). A worker is SIGKILLed at a chosen point of a step, or runs into a burst of
AWS errors, and a fresh worker finishes the job.

A migration's vCenter side (power-off, export lease, each disk streamed into S3 through presigned part URLs) is the
tenant's connector agent's, not a worker's: the bench runs one (bench/faultagent.py: connector.work's own loop in a
thread of this process, its signed calls answered by the portal's views), and a migration's workers find the job
waiting until the agent has sent its disks. So the migration trials have no export or upload kill point: the agent
is not a worker to park at an adapter call, and kill -9 of the agent mid-disk (resuming from the parts S3 holds, the
dead agent's export lease aborted by the next one) is tests/migrations/test_agent_path.py's and
tests/migrations/test_resume.py's. Cancels and S3 bursts still land mid-upload, on the agent.

The kill point is reached by wrapping that function inside the worker (it writes a marker file and sleeps), so the
kill lands exactly there: no peer can produce "killed between the AWS answer and the checkpoint". A name such as
``ec2.DeregisterImage`` is an AWS API call inside an adapter function, stopped at by a botocore hook. Errors no sandbox
switch produces (an EC2 5xx, an answer lost after AWS acted) are raised by the same kind of wrapper as
``AwsError(code, message)``. Per kind and phase (see ``VARIANTS``):

* migration  convert (after ``ImportImage`` before its id is saved; after a describe), launch (after
             ``RunInstances`` before its id is saved; before the staged disks are deleted), cleanup (cancelled
             mid-upload, on the agent, or mid-conversion, killed before the first release call), throttle (an S3
             ``SlowDown`` burst on the agent's part uploads among them);
* export     start (before / after ``CreateInstanceExportTask``, its id unsaved), poll (after a
             ``DescribeExportTasks``), cancel (before / after ``CancelExportTask``, before the objects are
             deleted), throttle;
* backup     create (before / after ``CreateImage``, its id unsaved), poll (after ``DescribeImages``), cancel
             (killed, cancelled while dead, killed again inside the release: before / after ``image_delete``, or
             after its ``DeregisterImage``), retention (the ``deleting`` step of an image its schedule no longer
             keeps), throttle;
* launch     run (before / after ``RunInstances``, its id unsaved), record (the instance recorded, the job not
             completed yet), throttle.

Throttle trials run one worker into an EC2 ``RequestLimitExceeded`` burst or an S3 ``SlowDown``/``InternalError``
burst from the AWS sandbox (longer than botocore's 4 attempts, so the engine's retry from the checkpoint runs) and
into 5xx errors the worker raises itself, some after the call was made (the answer lost); those jobs must complete.
After all trials the orphan sweep runs (``portal.site.sweep.orphan_sweep``, min age 0), and the sandbox is counted:

* duplicate_imports: ImportImage tasks per migration beyond the first;
* duplicate_exports: AWS export tasks per export job beyond the first;
* duplicate_images: images per backup job beyond the first;
* duplicate_instances: instances per migration and per launch job beyond the first;
  each found by the job's tags and tokens in the sandbox and from the worker's own log of every create call's
  answer (so a duplicate that was made and later removed still counts);
* orphans: what exists after the sweep that was not there before the trials and that no finished job keeps:
  unfinished multipart uploads, objects (staged disks, OVAs of exports that did not complete), images, snapshots,
  instances not terminated, export tasks still running.

Last line: ``faults trials=N completed_or_cancelled=N duplicate_imports=0 duplicate_exports=0 duplicate_images=0
duplicate_instances=0 orphans=0 kinds=4``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from processes import stop  # bench/processes.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024
KINDS = ("migration", "export", "backup", "launch")
PHASES = {
    "migration": ("convert", "launch", "cleanup", "throttle"),  # export and upload: the agent's (see above)
    "export": ("start", "poll", "cancel", "throttle"),
    "backup": ("create", "poll", "cancel", "retention", "throttle"),
    "launch": ("run", "record", "throttle"),
}
# The state each kind ends in when it succeeds.
SUCCESS = {"migration": "completed", "export": "completed", "backup": "available", "launch": "completed"}
CLEANUP_CALLS = ("multipart_abort", "object_delete", "import_image_cancel", "instance_terminate", "image_deregister",
                 "image_delete", "objects_delete_under")
# Adapter calls that create something in AWS: the worker logs each answer, so duplicates count even once removed.
# Each with the field of its answer that names what it made (CreateImage answers the id itself).
CREATE_CALLS = {"import_image": "task_id", "run_instance": "instance_id", "instance_export_start": "task_id",
                "image_create": ""}
VM_COUNT = 4
EXPORT_SOURCES = 3  # imported instances exports rotate over (AWS exports an instance once at a time)
DISK_MIB = 24
PART_MIB = 5
# Leases of 3 s, polls of 0.2 s and retries after 0.5-1 s (doubling, at most 4 s) for every kind: a dead worker's
# job is taken over quickly and a retried attempt comes soon, as in the engine's tests.
WORKER_ENV = {
    "MIGRATION_LEASE_SECONDS": "3",
    "MIGRATION_POLL_SECONDS": "0.2",
    "MIGRATION_INLINE_WAIT_SECONDS": "5",
    "MIGRATION_TICK_BUDGET_SECONDS": "60",
    "MIGRATION_PART_SIZE": str(PART_MIB * MIB),
    "MIGRATION_RETRY_BASE_SECONDS": "1",
    "MIGRATION_RETRY_MAX_SECONDS": "4",
    "EXPORT_LEASE_SECONDS": "3",
    "EXPORT_POLL_SECONDS": "0.2",
    "EXPORT_TICK_BUDGET_SECONDS": "60",
    "ENVIRONMENT_JOB_LEASE_SECONDS": "3",
    "ENVIRONMENT_JOB_POLL_SECONDS": "0.2",
    "ENVIRONMENT_JOB_TICK_BUDGET_SECONDS": "60",
    "JOB_INLINE_WAIT_SECONDS": "5",
    "JOB_RETRY_BASE_SECONDS": "1",
    "JOB_RETRY_MAX_SECONDS": "4",
    "OUTBOUND_ALLOW_HTTP": "true",
    "OUTBOUND_ALLOWED_CIDRS": "127.0.0.0/8",
    "Q_WORKERS": "1",
}


# --------------------------------------------------------------------------------------------------------------
# worker side: one process per attempt, killed by the orchestrator at the pause point
# --------------------------------------------------------------------------------------------------------------

def _owner_of(name: str, kind_name: str):
    """Where the worker looks `name` up: the AWS adapter's face (replacing it there reaches every call site), the
    vSphere session class, or else the kind's runner module (a name it imported, such as the service that records
    a launched instance)."""
    import importlib

    from adapters.aws import client as aws
    from adapters.vsphere import client as vsphere
    from core.jobs.kinds import kind

    if name == "lease_wait_ready":
        return vsphere.VCenterSession
    if hasattr(aws, name):
        return aws
    module = importlib.import_module(kind(kind_name).runner.rsplit(".", 1)[0])
    if not hasattr(module, name):
        raise SystemExit(f"nothing named {name!r} to wrap for kind {kind_name!r}")
    return module


def _install_pause(spec: dict, marker: str, kind_name: str = "migration") -> None:
    """Wrap the functions named in `spec`; at the chosen call the worker writes `marker` and sleeps until it is
    killed. Every thread that reaches a wrapped function after that sleeps too, so nothing moves on."""
    import threading

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

    def hook(operation):
        if reached.is_set():
            park()
        with lock:
            calls[operation] += 1
            hit = calls[operation] == spec["nth"]
        if hit:
            park()

    for name in spec["functions"]:
        if "." in name:
            _on_operation(name, spec["when"], hook)
        else:
            wrap(_owner_of(name, kind_name), name)


def _on_operation(operation: str, when: str, hook) -> None:
    """Call `hook(operation)` before or after an AWS API call ("ec2.DeregisterImage") the adapter makes: a point
    inside an adapter function (between its calls), where no wrapper of the function can stop."""
    from adapters.aws import client as aws

    service, name = operation.split(".")
    make = aws.client

    def client(wanted, credentials, region):
        made = make(wanted, credentials, region)
        if wanted == service:
            made.meta.events.register(f"{when}-call.{service}.{name}", lambda **_: hook(operation))
        return made

    aws.client = client


def _install_errors(specs: list[dict], log: str, kind_name: str) -> None:
    """Make the named adapter functions fail with `AwsError(code)` on their first `count` calls: "before" without
    calling AWS (a 5xx burst longer than botocore's retries), "after" once AWS has acted (the answer was lost).
    Each raise is logged, so the orchestrator can tell the faults were met."""
    import threading

    from adapters.aws import client as aws

    lock = threading.Lock()

    def wrap(owner, spec):
        name, left = spec["function"], [spec["count"]]
        original = getattr(owner, name)

        def failing():
            with lock:
                if left[0] <= 0:
                    return None
                left[0] -= 1
            with open(log, "a") as fh:
                fh.write(f"{name} {spec['code']} {spec['when']}\n")
            return aws.AwsError(spec["code"], f"injected by bench/faults.py ({spec['when']} the call)")

        def wrapper(*args, **kwargs):
            if spec["when"] == "before" and (error := failing()):
                raise error
            result = original(*args, **kwargs)
            if spec["when"] == "after" and (error := failing()):
                raise error
            return result

        setattr(owner, name, wrapper)

    for spec in specs:
        wrap(_owner_of(spec["function"], kind_name), spec)


def _log_parts(path: str) -> None:
    """Append "upload_id part_number" for every UploadPart, before it is sent (a kill mid-send still counts)."""
    from adapters.aws import client as aws

    original = aws.multipart_upload_part

    def logged(s3, bucket, key, upload_id, part_number, *args, **kwargs):
        with open(path, "a") as fh:
            fh.write(f"{upload_id} {part_number}\n")
        return original(s3, bucket, key, upload_id, part_number, *args, **kwargs)

    aws.multipart_upload_part = logged


def _log_creates(path: str) -> None:
    """Append "call resource_id" for every answer of a create call, as soon as AWS answered."""
    from adapters.aws import client as aws

    def wrap(name, id_field):
        original = getattr(aws, name)

        def logged(*args, **kwargs):
            result = original(*args, **kwargs)
            with open(path, "a") as fh:
                fh.write(f"{name} {getattr(result, id_field) if id_field else result}\n")
            return result

        setattr(aws, name, logged)

    for name, id_field in CREATE_CALLS.items():
        wrap(name, id_field)


def _wait_until_due(kind, job_id: int) -> None:
    """Honour the job's wake-up (a poll, a retry's backoff, the next look at whether its connector is online), as
    its django-q2 schedule would, for at most 10 s; a wake-up brought forward meanwhile (the agent has sent the
    disks) is seen within 0.2 s. A migration waiting for its agent sets no `wake_at`, only its next tick: ticking
    again at once would hold the job's lease nearly all the time and keep the agent from claiming it."""
    from django.utils import timezone
    from django_q.models import Schedule

    from core.jobs.queue import wake_schedule_name

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        due = kind.model.objects.filter(pk=job_id).values_list("wake_at", flat=True).first() or \
            Schedule.objects.filter(name=wake_schedule_name(kind, job_id)).values_list("next_run", flat=True).first()
        if due is None or due <= timezone.now():
            return
        time.sleep(min(0.2, (due - timezone.now()).total_seconds()))


def run_worker(task_id: int, pause: str, marker: str, parts_log: str, kind_name: str = "migration",
               errors: str = "", calls_log: str = "", errors_log: str = "") -> int:
    from core.jobs.kinds import kind
    from core.jobs.tasks import job_tick

    job_kind = kind(kind_name)
    # Innermost first: a create's answer is logged before an injected error or the pause can hide it, and the pause
    # (outermost) parks before an UploadPart is logged.
    if calls_log:
        _log_creates(calls_log)
    if errors:
        _install_errors(json.loads(errors), errors_log or os.devnull, kind_name)
    if parts_log:
        _log_parts(parts_log)
    if pause:
        _install_pause(json.loads(pause), marker, kind_name)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = job_kind.model.objects.filter(pk=task_id).values_list("state", flat=True).first()
        if state is None or state not in job_kind.live:
            return 0
        outcome = job_tick(kind_name, task_id)
        if outcome == "busy":
            time.sleep(0.25)  # the dead worker's lease has not run out yet
        elif outcome in ("waiting", "retrying", "releasing"):
            _wait_until_due(job_kind, task_id)
    return 1


def worker(task_id: int, pause: str, marker: str, parts_log: str, **options) -> int:
    import django

    django.setup()
    return run_worker(task_id, pause, marker, parts_log, **options)


# -- the zygote: Django set up once, a worker forked per request (a fresh interpreter costs 2-4 s on 2 busy cores) --

def zygote(path: str) -> int:
    import importlib

    import django

    django.setup()
    from django.db import connections

    from adapters.aws import session
    from core.jobs.kinds import kinds

    for job_kind in kinds():
        importlib.import_module(job_kind.runner.rsplit(".", 1)[0])
    for service in ("ec2", "s3"):  # botocore's service models, parsed once and shared by every fork
        session._LOADER.load_service_model(service, "service-2")
    connections.close_all()  # a forked child must open its own
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers; each writes its exit code
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    while True:
        conn, _ = server.accept()
        with conn:
            request = json.loads(conn.makefile().readline())
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.close()
                os._exit(_forked(request))
            conn.sendall(f"{pid}\n".encode())


def _forked(request: dict) -> int:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    rc = 2
    try:
        rc = run_worker(**request["worker"])
    except Exception:  # noqa: BLE001 - printed to the worker's log; it must never unwind into the zygote's loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        Path(request["rc_file"]).write_text(str(rc))
    return rc


class Forked:
    """A worker the zygote forked: not our child, so it is watched by its pid and its exit-code file."""

    def __init__(self, pid: int, rc_file: Path):
        self.pid, self.rc_file, self.returncode = pid, rc_file, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = int(self.rc_file.read_text() or -9) if self.rc_file.exists() else -9
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.1)
        return self.returncode

    def kill9(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait(timeout=30)


class Zygote:
    def __init__(self, logdir: Path):
        self.path = str(logdir / "zygote.sock")
        with open(logdir / "zygote.log", "ab") as log:
            self.proc = subprocess.Popen([sys.executable, __file__, "--zygote", self.path], cwd=ROOT,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker zygote did not start; see {logdir}/zygote.log")
            time.sleep(0.1)

    def fork(self, worker_args: dict, log: Path) -> Forked:
        rc_file = log.with_suffix(f".rc{time.monotonic_ns()}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.path)
            conn.sendall(json.dumps({"worker": worker_args, "log": str(log), "rc_file": str(rc_file)}).encode()
                         + b"\n")
            pid = int(conn.makefile().readline())
        return Forked(pid, rc_file)

    def stop(self) -> None:
        stop(self.proc)


# --------------------------------------------------------------------------------------------------------------
# trials
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pause:
    functions: tuple[str, ...]
    when: str  # before | after
    nth: int = 1

    def spec(self) -> dict:
        return {"functions": list(self.functions), "when": self.when, "nth": self.nth}

    def label(self) -> str:
        where = "/".join(self.functions) if len(self.functions) < 3 else "first release call"
        return f"{self.when} {where}" + (f" #{self.nth}" if self.nth > 1 else "")


def _error(function: str, code: str, count: int, when: str = "before") -> dict:
    return {"function": function, "code": code, "count": count, "when": when}


@dataclass
class Trial:
    kind: str
    phase: str
    pause: Pause | None = None
    cancel: str = ""  # "dead": cancelled while its worker is dead; "running": once `cancel_when` holds
    cancel_when: str = ""  # a state the row must be in (with its AWS task started) for a "running" cancel
    then_pause: Pause | None = None  # the resuming worker stops at this point too, and a third one finishes
    sandbox_faults: dict = field(default_factory=dict)  # AWS sandbox switches, set while the first worker runs
    errors: tuple = ()  # errors the first worker raises itself (`_error`)
    expect: str = ""  # the end state, when it is neither the kind's success nor `cancelled`
    # results
    task_id: int = 0
    faulted: bool = False
    state_at_kill: str = ""
    final_state: str = ""
    final_message: str = ""
    seconds: float = 0.0
    injected: int = 0  # errors met: sandbox faults served plus errors the worker raised
    retries: int = 0  # attempts the engine retried from the checkpoint
    notes: list[str] = field(default_factory=list)

    @property
    def throttle(self) -> bool:
        return bool(self.sandbox_faults or self.errors)

    @property
    def label(self) -> str:
        if self.throttle:
            parts = [_fault_label(self.sandbox_faults)] + [f"{e['code']} x{e['count']} {e['when']} {e['function']}"
                                                           for e in self.errors]
            return "; ".join(p for p in parts if p)
        text = self.pause.label() if self.pause else "no pause"
        if self.cancel == "running":
            text += f", cancel at {self.cancel_when}"
        elif self.cancel == "dead":
            text += ", cancel while dead"
        if self.then_pause:
            text += f", then {self.then_pause.label()}"
        return text

    @property
    def cancel_asked(self) -> bool:
        return bool(self.cancel)

    @property
    def expected(self) -> str:
        return self.expect or ("cancelled" if self.cancel else SUCCESS[self.kind])

    @property
    def ok(self) -> bool:
        return self.final_state == self.expected


def _fault_label(faults: dict) -> str:
    parts = []
    if faults.get("ec2_throttle"):
        parts.append(f"RequestLimitExceeded x{faults['ec2_throttle_count']} on "
                     f"{'/'.join(faults.get('ec2_throttle_actions') or ['Describe*'])}")
    if faults.get("s3_error"):
        parts.append(f"{faults['s3_error']} x{faults['s3_error_count']} on "
                     f"{'/'.join(faults.get('s3_error_operations') or ['S3'])}")
    return "; ".join(parts)


def _ec2_burst(action: str, count: int = 6) -> dict:
    # botocore makes 4 attempts: 6 throttled requests fail one adapter call and the first retry of the next.
    return {"ec2_throttle": True, "ec2_throttle_count": count, "ec2_throttle_actions": [action]}


def _s3_burst(code: str, operations: list[str], count: int = 6) -> dict:
    return {"s3_error": code, "s3_error_count": count, "s3_error_operations": operations}


def _pause(*functions: str, when: str = "after", nth: int = 1) -> Pause:
    return Pause(tuple(functions), when, nth)


VARIANTS: dict[tuple[str, str], list[Trial]] = {
    ("migration", "convert"): [Trial("migration", "convert", _pause("import_image")),
                               Trial("migration", "convert", _pause("import_image"), cancel="dead"),
                               Trial("migration", "convert", _pause("import_image_describe")),
                               Trial("migration", "convert", _pause("import_image_describe"), cancel="dead")],
    ("migration", "launch"): [Trial("migration", "launch", _pause("run_instance")),
                              Trial("migration", "launch", _pause("run_instance"), cancel="dead"),
                              Trial("migration", "launch", _pause("object_delete", when="before")),
                              Trial("migration", "launch", _pause("object_delete", when="before"), cancel="dead")],
    ("migration", "cleanup"): [
        Trial("migration", "cleanup", _pause(*CLEANUP_CALLS, when="before"), cancel="running", cancel_when="uploading"),
        Trial("migration", "cleanup", _pause(*CLEANUP_CALLS, when="before"), cancel="running",
              cancel_when="converting")],
    ("migration", "throttle"): [
        Trial("migration", "throttle", sandbox_faults=_s3_burst("SlowDown", ["UploadPart"], 24),
              errors=(_error("run_instance", "InternalError", 1, "after"),)),
        Trial("migration", "throttle", sandbox_faults=_ec2_burst("ImportImage"),
              errors=(_error("import_image_describe", "ServiceUnavailable", 2),)),
        Trial("migration", "throttle", sandbox_faults=_ec2_burst("RunInstances"),
              errors=(_error("import_image", "InternalError", 1, "after"),))],
    ("export", "start"): [Trial("export", "start", _pause("instance_export_start", when="before")),
                          Trial("export", "start", _pause("instance_export_start")),
                          Trial("export", "start", _pause("instance_export_start", when="before"), cancel="dead"),
                          Trial("export", "start", _pause("instance_export_start"), cancel="dead")],
    ("export", "poll"): [Trial("export", "poll", _pause("instance_export_describe")),
                         Trial("export", "poll", _pause("instance_export_describe"), cancel="dead")],
    ("export", "cancel"): [
        Trial("export", "cancel", _pause("instance_export_cancel", when="before"), cancel="running",
              cancel_when="exporting"),
        Trial("export", "cancel", _pause("instance_export_cancel"), cancel="running", cancel_when="exporting"),
        Trial("export", "cancel", _pause("objects_delete_under", when="before"), cancel="running",
              cancel_when="exporting")],
    ("export", "throttle"): [
        Trial("export", "throttle", sandbox_faults=_ec2_burst("CreateInstanceExportTask"),
              errors=(_error("instance_export_start", "InternalError", 1, "after"),)),
        Trial("export", "throttle", sandbox_faults={**_ec2_burst("DescribeExportTasks"),
                                                    **_s3_burst("SlowDown", ["PutObjectTagging"])},
              errors=(_error("instance_export_describe", "ServiceUnavailable", 2),)),
        Trial("export", "throttle", sandbox_faults=_s3_burst("InternalError", ["HeadObject"]),
              errors=(_error("instance_export_start", "InternalError", 2),))],
    ("backup", "create"): [Trial("backup", "create", _pause("image_create", when="before")),
                           Trial("backup", "create", _pause("image_create")),
                           Trial("backup", "create", _pause("image_create", when="before"), cancel="dead"),
                           Trial("backup", "create", _pause("image_create"), cancel="dead")],
    ("backup", "poll"): [Trial("backup", "poll", _pause("image_describe")),
                         Trial("backup", "poll", _pause("image_describe"), cancel="dead")],
    ("backup", "cancel"): [
        Trial("backup", "cancel", _pause("image_create"), cancel="dead",
              then_pause=_pause("image_delete", when="before")),
        Trial("backup", "cancel", _pause("image_describe"), cancel="dead", then_pause=_pause("image_delete")),
        # Inside the release: the image deregistered, its snapshots not deleted yet.
        Trial("backup", "cancel", _pause("image_create"), cancel="dead", then_pause=_pause("ec2.DeregisterImage"))],
    ("backup", "retention"): [Trial("backup", "retention", _pause("image_delete", when="before"), expect="deleted"),
                              Trial("backup", "retention", _pause("ec2.DeregisterImage"), expect="deleted"),
                              Trial("backup", "retention", _pause("image_delete"), expect="deleted")],
    ("backup", "throttle"): [
        Trial("backup", "throttle", sandbox_faults=_ec2_burst("CreateImage"),
              errors=(_error("image_create", "InternalError", 1, "after"),)),
        Trial("backup", "throttle", sandbox_faults=_ec2_burst("DescribeImages", 10),
              errors=(_error("image_describe", "ServiceUnavailable", 2),))],
    ("launch", "run"): [Trial("launch", "run", _pause("run_instance")),
                        Trial("launch", "run", _pause("run_instance", when="before"))],
    ("launch", "record"): [Trial("launch", "record", _pause("instance_record_launched"))],
    ("launch", "throttle"): [
        Trial("launch", "throttle", sandbox_faults=_ec2_burst("RunInstances"),
              errors=(_error("run_instance", "InternalError", 1, "after"),)),
        Trial("launch", "throttle", sandbox_faults=_ec2_burst("DescribeInstances"),
              errors=(_error("run_instance", "ServiceUnavailable", 2),))],
}


def plan(per_phase: int, kinds=KINDS, phases=None) -> list[Trial]:
    """`per_phase` trials of each chosen phase, cycling through its variants. `phases`: names, bare ("cancel",
    every kind's) or qualified ("export:cancel"); None for all."""
    trials = []
    for kind_name in kinds:
        for phase in PHASES[kind_name]:
            if phases is not None and phase not in phases and f"{kind_name}:{phase}" not in phases:
                continue
            options = VARIANTS[(kind_name, phase)]
            for i in range(per_phase):
                trials.append(dataclasses.replace(options[i % len(options)], notes=[]))
    return trials


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_aws(logdir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    with open(logdir / "aws-sandbox.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.aws", "--port", str(port), "--speed", "1", "--vmimport-role",
             "--no-default-amis", "--import-duration", "3", "--cleanup-duration", "1", "--export-duration", "4",
             "--quiet"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
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
    datacenter = inv["datacenters"][0]
    # Permissions on the stock VMs name entities this inventory replaces: the simulator refuses to start with them.
    gone = {f"/{datacenter['name']}/vm/{vm['folder']}/{vm['name']}" for vm in datacenter["vms"]}
    inv["permissions"] = [p for p in inv.get("permissions", []) if p["entity"] not in gone]
    datacenter["vms"] = [
        {"name": f"fault{i:02d}", "folder": "Production/Linux", "guest_id": "ubuntu64Guest",
         "power_state": "poweredOff", "disks": [{"size_mb": DISK_MIB, "datastore": "datastore1",
                                                 "used_fraction": 1.0}]}
        for i in range(VM_COUNT)]
    return inv


def _services(kind_name: str):
    """The kind's service module, beside its runner (`exports.pipeline` -> `exports.services`): found through the
    registry, so the bench follows an app that moves."""
    import importlib

    from core.jobs.kinds import kind

    return importlib.import_module(kind(kind_name).runner.rsplit(".", 2)[0] + ".services")


def _tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


class Bench:
    def __init__(self, vc, aws_url: str, logdir: Path, zygote: Zygote):
        self.vc, self.aws_url, self.logdir, self.zygote = vc, aws_url, logdir, zygote
        from sandbox.aws import connect

        self.aws = connect(aws_url)
        self.ec2, self.s3 = self.aws.client("ec2"), self.aws.client("s3")
        self.baseline: dict[str, set] = {}
        self.agent = None

    # -- the portal side ------------------------------------------------------------------------------------------

    def setup_portal(self, kinds) -> None:
        from adapters.outbound import OutboundPolicy
        from adapters.vsphere.client import VCenterConnection, session
        from core import services
        from core.models import TenantAwsAccount, TenantVCenter
        from environments import services as env_services
        from environments.choices import EnvironmentRole
        from environments.models import SecurityGroup, Subnet

        password = "correct-horse-battery-9"
        slug = f"faults{int(time.time()) % 100000}"
        self.tenant = services.tenant_create(actor=None, name=f"Faults {slug}", slug=slug)
        self.admin = services.user_create(actor=None, tenant=self.tenant, username=f"{slug}-admin", role="admin",
                                          password=password)
        self.alice = services.user_create(actor=None, tenant=self.tenant, username=f"{slug}-alice", role="user",
                                          password=password, vcenter_principal="VSPHERE.LOCAL\\alice")
        TenantAwsAccount.objects.create(tenant=self.tenant, access_key_id="AKIAIOSFODNN7EXAMPLE",
                                        secret_access_key="sandbox-secret")
        TenantVCenter.objects.create(tenant=self.tenant, url=self.vc.url)
        region = env_services.region_create(actor=self.admin, code="us-east-1")
        self.environment = region.environments.get(is_default=True)
        env_services.environment_sync(actor=self.admin, environment=self.environment)
        env_services.environment_grant(actor=self.admin, environment=self.environment, principal=self.alice,
                                       role=EnvironmentRole.GENERAL)
        self.subnet = Subnet.objects.filter(environment=self.environment).order_by("subnet_id").first()
        self.security_group = SecurityGroup.objects.filter(environment=self.environment).first()
        with session(VCenterConnection(url=self.vc.url, username=self.vc.username, password=self.vc.password,
                                       outbound=OutboundPolicy(allow_http=True,
                                                               allowed_cidrs=("127.0.0.0/8",)))) as vc:
            self.vms = sorted(vm.moref for vm in vc.list_vms() if vm.name.startswith("fault"))
        if {"export", "backup", "launch"} & set(kinds):
            self.setup_instances(slug)
        if "migration" in kinds:
            self.start_agent()
        self.baseline = self.inventory()

    def start_agent(self) -> None:
        """The tenant's connector agent, running until the bench ends: it exports and uploads each migration's
        disks (the workers convert and launch), and its inventory is what a new migration is checked against."""
        from faultagent import BenchAgent  # bench/faultagent.py, beside this script

        self.aws.register_credentials("AKIAIOSFODNN7EXAMPLE", "sandbox-secret")  # its presigned part URLs use them
        self.agent = BenchAgent(self.tenant, self.vc)
        self.agent.report_inventory()
        self.agent.start()

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.stop()

    def setup_instances(self, slug: str) -> None:
        """Instances imported through VM Import (AWS exports no other kind), recorded as the portal's: the sources
        of exports and backups; and a template on their image for launches."""
        from environments.models import ImportedInstance
        from sandbox.aws.testing import imported_image

        self.image_id = imported_image(self.aws, key=f"{slug}-source.vmdk")
        reservation = self.ec2.run_instances(ImageId=self.image_id, MinCount=EXPORT_SOURCES + 1,
                                             MaxCount=EXPORT_SOURCES + 1, InstanceType="t2.micro",
                                             SubnetId=self.subnet.subnet_id)
        rows = [ImportedInstance.objects.create(tenant=self.tenant, environment=self.environment,
                                                instance_id=i["InstanceId"], image_id=self.image_id,
                                                instance_type="t2.micro", source_vm_name=f"source{n}")
                for n, i in enumerate(reservation["Instances"])]
        self.export_sources, self.backup_source = rows[:EXPORT_SOURCES], rows[EXPORT_SOURCES]
        _services("export").export_configure(actor=self.admin, name=slug, consent=True)
        from environments import services as env_services

        self.template = env_services.template_create(actor=self.admin, environment=self.environment, data={
            "name": "faults", "ami_id": self.image_id, "instance_type": "t2.micro", "subnet": self.subnet,
            "security_group": self.security_group})

    def start(self, n: int, trial: Trial) -> int:
        return getattr(self, f"start_{trial.kind}")(n, trial)

    def start_migration(self, n: int, trial: Trial) -> int:
        from migrations_app.requests import MigrationTarget

        return _services("migration").migration_start(actor=self.alice, target=MigrationTarget(
            vm_moref=self.vms[n % len(self.vms)], environment_id=self.environment.pk,
            operating_system="ubuntu-22.04", instance_type="t2.micro", subnet_id=self.subnet.pk,
            security_group_id=self.security_group.pk)).pk

    def start_export(self, n: int, trial: Trial) -> int:
        return _services("export").export_create(actor=self.admin,
                                                 instance=self.export_sources[n % EXPORT_SOURCES]).pk

    def start_backup(self, n: int, trial: Trial) -> int:
        backup_start = _services("backup").backup_start
        if trial.phase != "retention":
            return backup_start(actor=self.alice, instance=self.backup_source).pk
        # The trial's own schedule keeps one image: the first backup is made, the second one's completion moves
        # the first to `deleting`, which is the step the trial's worker is killed in.
        schedule = _services("backup").backup_schedule_create(
            actor=self.alice, instance=self.backup_source, data={"cron": "0 3 * * *", "keep_last": 1})
        older = backup_start(actor=self.alice, instance=self.backup_source, schedule=schedule)
        self.drive_inline("backup", older.pk)
        newer = backup_start(actor=self.alice, instance=self.backup_source, schedule=schedule)
        self.drive_inline("backup", newer.pk)
        if self.row("backup", older.pk).state != "deleting":
            raise SystemExit(f"retention did not move backup {older.pk} to deleting: {self.row('backup', older.pk)}")
        return older.pk

    def start_launch(self, n: int, trial: Trial) -> int:
        task, _ = _services("launch").template_launch(actor=self.alice, template=self.template)
        return task.pk

    def drive_inline(self, kind_name: str, job_id: int) -> None:
        """Run a job to its end in this process: the set-up of a trial, no fault in it."""
        from core.jobs.kinds import kind
        from core.jobs.tasks import job_tick

        for _ in range(100):
            if self.row(kind_name, job_id).state not in kind(kind_name).workable:
                return
            job_tick(kind_name, job_id)
            time.sleep(0.1)
        raise SystemExit(f"{kind_name} {job_id} did not finish in its set-up")

    def row(self, kind_name: str, job_id: int):
        from core.jobs.kinds import kind

        return kind(kind_name).model.objects.get(pk=job_id)

    def cancel(self, kind_name: str, job_id: int) -> None:
        services, row = _services(kind_name), self.row(kind_name, job_id)
        if kind_name == "migration":
            services.migration_cancel(actor=self.alice, task=row)
        elif kind_name == "export":
            services.export_cancel(actor=self.admin, task=row, confirm=True)
        elif kind_name == "backup":
            services.backup_cancel(actor=self.alice, task=row)
        else:
            raise SystemExit(f"{kind_name} jobs cannot be cancelled")

    def cancel_due(self, trial: Trial, row) -> bool:
        """A cancel "while running" lands once the job is in `cancel_when` with its AWS side started."""
        if row.state != trial.cancel_when:
            return False
        if trial.cancel_when == "uploading":
            return row.bytes_uploaded > 0
        if trial.cancel_when == "converting":
            return bool(row.import_task_id)
        return bool(getattr(row, "export_task_id", True))

    # -- workers --------------------------------------------------------------------------------------------------

    def worker(self, trial: Trial, pause: Pause | None, marker: Path, errors: tuple = ()) -> Forked:
        job = f"{trial.kind}-{trial.task_id}"
        return self.zygote.fork({
            "task_id": trial.task_id, "kind_name": trial.kind, "pause": json.dumps(pause.spec()) if pause else "",
            "marker": str(marker), "parts_log": str(self.logdir / f"parts-{job}.log"),
            "errors": json.dumps(list(errors)) if errors else "", "errors_log": str(self.logdir / f"errors-{job}.log"),
            "calls_log": str(self.logdir / f"calls-{job}.log")}, self.logdir / f"worker-{job}.log")

    def run_until_paused(self, trial: Trial, pause: Pause | None, marker: Path, cancel_running: bool) -> bool:
        """Run a worker until it parks at `pause`, cancelling on the way if asked; SIGKILL it. Returns whether it
        was killed where the trial meant."""
        first = self.worker(trial, pause, marker)
        try:
            deadline = time.monotonic() + 90
            cancelled = False
            while time.monotonic() < deadline and not marker.exists() and first.poll() is None:
                if cancel_running and not cancelled and self.cancel_due(trial, self.row(trial.kind, trial.task_id)):
                    self.cancel(trial.kind, trial.task_id)
                    cancelled = True
                time.sleep(0.05)
            reached = marker.exists()
            trial.state_at_kill = trial.state_at_kill or self.row(trial.kind, trial.task_id).state
        finally:
            first.kill9()
        if not reached:
            trial.notes.append(f"{pause.label() if pause else 'the kill point'} was not reached "
                               f"(worker exit {first.returncode})")
        return reached

    def run_trial(self, n: int, trial: Trial) -> None:
        started = time.monotonic()
        if trial.cancel_when == "uploading":
            self.vc.set_faults(nfc_bytes_per_second=4 * MIB)  # slow enough for the cancel to land mid-upload
        trial.task_id = self.start(n, trial)
        marker = self.logdir / f"paused-{trial.kind}-{trial.task_id}"
        try:
            if trial.throttle:
                self.run_through_faults(trial)
            else:
                trial.faulted = self.run_until_paused(trial, trial.pause, marker, trial.cancel == "running")
        finally:
            self.vc.clear_faults()
        if trial.cancel == "dead":
            self.cancel(trial.kind, trial.task_id)
        if trial.then_pause:
            reached = self.run_until_paused(trial, trial.then_pause, marker.with_suffix(".again"), False)
            trial.faulted = trial.faulted and reached
        self.finish(trial, marker.with_suffix(".unused"))
        trial.seconds = time.monotonic() - started

    def run_through_faults(self, trial: Trial) -> None:
        """One worker meets the trial's bursts of AWS errors and is left to finish the job."""
        injected = self.aws.faults()["injected"]
        before = injected.get("ec2", 0) + injected.get("s3", 0)
        if trial.sandbox_faults:
            self.aws.set_faults(**trial.sandbox_faults)
        try:
            proc = self.worker(trial, None, self.logdir / "unused", trial.errors)
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                trial.notes.append("the worker did not finish in 180 s")
                proc.kill9()
        finally:
            injected = self.aws.faults()["injected"]
            self.aws.clear_faults()
        job = f"{trial.kind}-{trial.task_id}"
        raised = self.logdir / f"errors-{job}.log"
        trial.injected = injected.get("ec2", 0) + injected.get("s3", 0) - before + (
            len(raised.read_text().splitlines()) if raised.exists() else 0)
        log = self.logdir / f"worker-{job}.log"
        trial.retries = log.read_text(errors="replace").count("failed, will retry") if log.exists() else 0
        trial.faulted = trial.injected > 0
        trial.state_at_kill = "-"

    def finish(self, trial: Trial, marker: Path) -> None:
        """The worker that resumes the job after the faults and must end it."""
        if self.row(trial.kind, trial.task_id).state in self.live(trial.kind):
            last = self.worker(trial, None, marker)
            try:
                last.wait(timeout=180)
            except subprocess.TimeoutExpired:
                trial.notes.append("the resuming worker did not finish in 180 s")
                last.kill9()
        row = self.row(trial.kind, trial.task_id)
        trial.final_state, trial.final_message = row.state, row.status_message

    @staticmethod
    def live(kind_name: str) -> frozenset:
        from core.jobs.kinds import kind

        return kind(kind_name).live

    # -- counting in the sandbox ----------------------------------------------------------------------------------

    def inventory(self) -> dict[str, set]:
        """The ids of everything countable in the sandbox now."""
        instances = {i["InstanceId"] for r in self.ec2.describe_instances()["Reservations"] for i in r["Instances"]
                     if i["State"]["Name"] not in ("shutting-down", "terminated")}
        objects = set()
        for bucket in [b["Name"] for b in self.s3.list_buckets().get("Buckets", [])]:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                objects |= {(bucket, o["Key"]) for o in page.get("Contents", [])}
        return {"instances": instances, "objects": objects,
                "images": {i["ImageId"] for i in self.ec2.describe_images(Owners=["self"])["Images"]},
                "snapshots": {s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}}

    def created(self, trials: list[Trial]) -> dict[tuple[str, int], dict[str, set]]:
        """Per job: the ids its workers' create calls were answered with."""
        found = collections.defaultdict(lambda: collections.defaultdict(set))
        for t in trials:
            log = self.logdir / f"calls-{t.kind}-{t.task_id}.log"
            for line in log.read_text().splitlines() if log.exists() else []:
                call, _, resource = line.partition(" ")
                found[(t.kind, t.task_id)][call].add(resource)
        return found

    def duplicates(self, trials: list[Trial]) -> tuple[dict[str, int], list[str]]:
        """Per kind, what a job made beyond its first: found in the sandbox by the job's tags and tokens, and in the
        log of its create calls."""
        from core.jobs.kinds import kind

        created = self.created(trials)
        imports = collections.defaultdict(set)
        for page in self.ec2.get_paginator("describe_import_image_tasks").paginate():
            for task in page["ImportImageTasks"]:
                imports[_tags(task).get("portal-migration")].add(task["ImportTaskId"])
        instances = [i for r in self.ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        exports = self.ec2.describe_export_tasks()["ExportTasks"]
        images = self.ec2.describe_images(Owners=["self"])["Images"]
        counts = {"imports": 0, "exports": 0, "images": 0, "instances": 0}
        details = []

        def count(what, label, ids):
            if len(ids) > 1:
                counts[what] += len(ids) - 1
                details.append(f"{label}: {len(ids)} {what} ({', '.join(sorted(ids))})")

        jobs = {(t.kind, t.task_id) for t in trials}
        for kind_name, job_id in sorted(jobs):
            row, made, label = kind(kind_name).model.objects.get(pk=job_id), created[(kind_name, job_id)], \
                f"{kind_name} {job_id}"
            if kind_name == "migration":
                count("imports", label, imports[str(job_id)] | made["import_image"])
                count("instances", label, made["run_instance"] | {
                    i["InstanceId"] for i in instances if _tags(i).get("portal-migration") == str(job_id)
                    or (row.run_client_token and i.get("ClientToken") == row.run_client_token)})
            elif kind_name == "export":
                count("exports", label, made["instance_export_start"] | {
                    t["ExportTaskId"] for t in exports if _tags(t).get("portal-export") == str(job_id)
                    or _tags(t).get("portal-export-intent") == row.intent_token
                    or row.intent_token in t.get("Description", "")})
            elif kind_name == "backup":
                count("images", label, made["image_create"] | {
                    i["ImageId"] for i in images if _tags(i).get("portal-backup-token") == row.client_token})
            else:
                count("instances", label, made["run_instance"] | {
                    i["InstanceId"] for i in instances if _tags(i).get("portal-launch-token") == row.client_token
                    or i.get("ClientToken") == row.client_token})
        return counts, details

    def kept(self) -> dict[str, set]:
        """What finished jobs keep: a migration's instance, image and snapshots, an available backup's image and
        snapshots, a launch's instance, a completed export's object."""
        from core.jobs.kinds import kind

        def done(kind_name, *fields, state=None):
            return kind(kind_name).model.objects.filter(tenant=self.tenant, state=state or SUCCESS[kind_name]) \
                .values_list(*fields)

        instances = {i for (i,) in done("migration", "instance_id")} | {i for (i,) in done("launch", "instance_id")}
        images = {i for (i,) in done("migration", "image_id")} | {i for (i,) in done("backup", "image_id")}
        snapshots = {s for (ids,) in done("backup", "snapshot_ids") for s in ids or ()}
        for image in self.ec2.describe_images(Owners=["self"])["Images"]:
            if image["ImageId"] in images:
                snapshots |= {m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", [])
                              if m.get("Ebs", {}).get("SnapshotId")}
        for task in self.ec2.describe_import_image_tasks()["ImportImageTasks"]:
            if task.get("ImageId") in images:
                snapshots |= {d["SnapshotId"] for d in task.get("SnapshotDetails", []) if d.get("SnapshotId")}
        objects = {(b, k) for b, k in done("export", "s3_bucket", "s3_key")}
        return {"instances": instances, "images": images, "snapshots": snapshots, "objects": objects}

    def orphans(self, trials: list[Trial]) -> tuple[int, list[str]]:
        now, kept, owners = self.inventory(), self.kept(), self.owners(trials)
        found = []
        for what in ("objects", "images", "snapshots", "instances"):
            for resource in sorted(now[what] - self.baseline.get(what, set()) - kept[what]):
                name = "s3://" + "/".join(resource) if what == "objects" else resource
                found.append(f"{what[:-1]} {name}" + (f" ({owners[resource]})" if resource in owners else ""))
        for bucket in [b["Name"] for b in self.s3.list_buckets().get("Buckets", [])]:
            found += [f"upload s3://{bucket}/{u['Key']}" for u in
                      self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
        found += [f"export task {t['ExportTaskId']} ({t['State']})" for t in self.ec2.describe_export_tasks()[
            "ExportTasks"] if t["State"] in ("active", "cancelling")]
        return len(found), found

    def owners(self, trials: list[Trial]) -> dict:
        """Which job made what (from its create calls), and the image a snapshot was made for: to name an orphan's
        job."""
        owners = {resource: f"{job_kind} {job_id}" for (job_kind, job_id), made in self.created(trials).items()
                  for resources in made.values() for resource in resources}
        for snapshot in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
            image = re.search(r"ami-[0-9a-f]+", snapshot.get("Description", ""))
            if image:
                owners[snapshot["SnapshotId"]] = f"of {image.group()}" + (
                    f", made by {owners[image.group()]}" if image.group() in owners else "")
        return owners

    def aws_busy(self) -> bool:
        """Imports or exports AWS has not settled yet (a cancel takes a moment to end)."""
        imports = self.ec2.describe_import_image_tasks()["ImportImageTasks"]
        exports = self.ec2.describe_export_tasks()["ExportTasks"]
        return any(t.get("Status") in ("active", "deleting") for t in imports) or any(
            t["State"] in ("active", "cancelling") for t in exports)


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
    # The agent's thread (bench/faultagent.py): a job it retries or gives up (409 once cancelled) is the trial's
    # own doing, told by the trial line.
    for name in ("connector", "django.request"):
        logging.getLogger(name).setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)


def _sweep(bench: Bench) -> list:
    from portal.site.sweep import orphan_sweep

    swept = []
    # The sweep cancels what no live job owns; a cancelled import or export takes a moment to end, and one that
    # completed meanwhile leaves an image or an object: a second pass after AWS settles removes that too.
    for _ in range(2):
        swept += orphan_sweep(min_age_seconds=0)
        deadline = time.monotonic() + 30
        while bench.aws_busy() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.5)
    return swept


def _report_trial(n: int, trial: Trial) -> None:
    mark = "ok " if trial.ok else "BAD"
    extra = ""
    if trial.throttle:
        extra += f"  errors met {trial.injected}, engine retries {trial.retries}"
    print(f"  {mark} #{n + 1:<2} {trial.kind:<9} {trial.phase:<9} {trial.label:<66} "
          f"killed in {trial.state_at_kill or '-':<10} -> {trial.final_state:<9} {trial.seconds:5.1f} s{extra}"
          + (f"  [{'; '.join(trial.notes)}]" if trial.notes else "")
          + ("" if trial.ok else f"  message: {trial.final_message}"), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/faults.py", description=__doc__.splitlines()[0])
    p.add_argument("--trials-per-phase", type=int, default=4)
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    p.add_argument("--phases", help="comma-separated phases, bare (every chosen kind's) or kind:phase; kinds' "
                   "phases: " + "; ".join(f"{k}: {','.join(v)}" for k, v in PHASES.items()))
    p.add_argument("--database-url", help="default: a fresh SQLite file in the log directory")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--kind", default="migration", help=argparse.SUPPRESS)
    p.add_argument("--pause", default="", help=argparse.SUPPRESS)
    p.add_argument("--marker", help=argparse.SUPPRESS)
    p.add_argument("--parts-log", help=argparse.SUPPRESS)
    p.add_argument("--zygote", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.pause, args.marker, args.parts_log, kind_name=args.kind)
    if args.zygote:
        return zygote(args.zygote)

    # `timeout` and Ctrl-C alike: unwind, so that the sandboxes started below are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        p.error(f"unknown kinds {sorted(unknown)}")
    phases = set(args.phases.split(",")) - {""} if args.phases else None
    trials = plan(args.trials_per_phase, kinds, phases)
    if not trials:
        p.error("no trial matches --kinds and --phases")
    logdir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    database_url = args.database_url or f"sqlite:///{logdir / 'faults.sqlite3'}"
    print(f"bench/faults.py: {len(trials)} trials ({', '.join(kinds)}), disks {DISK_MIB} MiB, parts {PART_MIB} "
          f"MiB, leases {WORKER_ENV['MIGRATION_LEASE_SECONDS']} s; database {database_url.split('@')[-1]}; "
          f"logs {logdir}; {os.cpu_count()} CPUs", flush=True)
    aws_proc, aws_url = _start_aws(logdir)
    zygote_proc = bench = None
    failed = True
    try:
        _configure_django(database_url, aws_url)
        zygote_proc = Zygote(logdir)
        from sandbox.vcenter.server import start_vcenter

        with start_vcenter(inventory=_inventory(), https=False) as vc:
            bench = Bench(vc, aws_url, logdir, zygote_proc)
            bench.setup_portal(kinds)
            print(f"sandboxes and portal ready after {time.perf_counter() - started:.1f} s", flush=True)
            for n, trial in enumerate(trials):
                bench.run_trial(n, trial)
                _report_trial(n, trial)
            duplicates, duplicate_details = bench.duplicates(trials)
            before, before_details = bench.orphans(trials)
            swept = _sweep(bench)
            after, after_details = bench.orphans(trials)
            # Counted again after the sweep: the sweep must not have made anything twice.
            duplicates_after, _ = bench.duplicates(trials)
        failed = False
    finally:
        if bench is not None:
            bench.stop_agent()
        if zygote_proc is not None:
            zygote_proc.stop()
        stop(aws_proc)
        if failed or args.keep_logs:
            print(f"logs kept in {logdir}", file=sys.stderr)
        else:
            shutil.rmtree(logdir, ignore_errors=True)

    ok = sum(t.ok for t in trials)
    print()
    for kind_name in kinds:
        ran = [t for t in trials if t.kind == kind_name]
        print(f"{kind_name} (ok/trials): " + ", ".join(
            f"{ph} {sum(t.ok for t in ran if t.phase == ph)}/{sum(t.phase == ph for t in ran)}"
            for ph in PHASES[kind_name] if any(t.phase == ph for t in ran)))
    kills = [t for t in trials if not t.throttle]
    throttled = [t for t in trials if t.throttle]
    cancelled = sum(t.final_state == "cancelled" for t in trials)
    print(f"kills at the pause point: {sum(t.faulted for t in kills)}/{len(kills)}; cancels asked: "
          f"{sum(t.cancel_asked for t in trials)}, ended cancelled: {cancelled}")
    if throttled:
        print(f"error bursts: {len(throttled)} trials met {sum(t.injected for t in throttled)} errors; the engine "
              f"retried from the checkpoint {sum(t.retries for t in throttled)} times "
              f"({sum(t.retries > 0 for t in throttled)}/{len(throttled)} trials retried at least once)")
    for t in trials:
        if not t.ok:
            print(f"  NOT OK: {t.kind} {t.task_id} ({t.phase}: {t.label}): {t.final_state} (expected {t.expected}): "
                  f"{t.final_message}")
    print("duplicates: " + ", ".join(f"{k} {v}" for k, v in duplicates.items())
          + (f" ({'; '.join(duplicate_details)})" if duplicate_details else ""))
    print(f"orphans before the sweep: {before}" + (f" ({'; '.join(before_details[:12])}"
                                                  f"{' ...' if len(before_details) > 12 else ''})" if before else ""))
    removed = [r for r in swept if r.removed]
    removed_kinds = collections.Counter(r.kind for r in removed)
    print(f"sweep removed {len(removed)}: " + ", ".join(f"{k} {v}" for k, v in sorted(removed_kinds.items()))
          + (f"; not removed: {[(r.kind, r.resource, r.problem) for r in swept if r.problem]}"
             if any(r.problem for r in swept) else ""))
    print(f"orphans after the sweep: {after}" + (f" ({'; '.join(after_details)})" if after else ""))
    if duplicates_after != duplicates:
        print(f"duplicates changed across the sweep: {duplicates} -> {duplicates_after}")
    print(f"total run time {time.perf_counter() - started:.1f} s")
    print(f"faults trials={len(trials)} completed_or_cancelled={ok} duplicate_imports={duplicates['imports']} "
          f"duplicate_exports={duplicates['exports']} duplicate_images={duplicates['images']} "
          f"duplicate_instances={duplicates['instances']} orphans={after} kinds={len({t.kind for t in trials})}",
          flush=True)
    return 0 if ok == len(trials) and not any(duplicates.values()) and after == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
