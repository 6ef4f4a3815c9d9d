"""Data-path benchmark: NFC download, S3 upload, our streaming pipeline and the two-step path, side by side.

    .venv/bin/python bench/datapath.py [--rounds 3] [--rate-disk large|small] [--small-mib 256] [--large-mib 2048]
                                       [--http] [--profile MODE]

One run starts both sandboxes (the vCenter simulator as its own process, the AWS sandbox as a separate
``python -m sandbox.aws`` process, over HTTPS with its own CA unless ``--http``, so S3 sees what it sees from a
worker in production) and measures, on the same sandbox VM disk (default: the 2 GiB one):

1. ``download``  NFC download only: ``VCenterSession.open_disk(...)`` read to the end in READ_CHUNK pieces, discarded;
2. ``upload``    S3 upload only: the same number of bytes of pre-generated in-memory data, multipart-uploaded with
                 ``adapters.aws.client.multipart_upload_part`` (same part size and concurrency, a CRC32
                 per part as in the pipeline);
3. ``pipeline``  the streaming core alone: ``connector.datapath.stream_to_multipart`` reading ``open_disk(...)``
                 and uploading with boto3's ``multipart_upload_part`` (no portal, no presigning, no reports), so
                 that the connector's path can be compared with its own core;
4. ``connector`` the connector agent's path through a real portal (``bench/agentportal.py``: gunicorn on a scratch
                 SQLite database, a tenant with a registered agent, one migration waiting per run): the agent
                 takes the job, verifies its token, checks the privilege, opens the export lease and streams the
                 disk with one presigned URL per part and a report every second (``connector.work``), as
                 ``python -m connector run`` does; the targets judge this path (``path=connector``);
5. ``twostep``   download to a temporary file, then multipart-upload the file (same part size and concurrency);
6. ``tcp-floor`` / ``tls-floor``  the floor under any S3 client: the same number of bytes pushed with one
                 ``sendall`` per part over plain TCP, and over TLS (CPython's ``ssl``, the CA-verified context
                 botocore builds, TLS 1.3 as S3 negotiates), into a sink process that discards them. No HTTP, no
                 checksum, no download: what the worker pays to hand the bytes to the kernel encrypted.

Every measurement runs in a fresh child process (this script with ``--worker``), so that the pipeline's peak RSS
(``ru_maxrss`` of the child) is the worker's alone; the S3 server's memory (moto keeps or spills the parts) is
in the sandbox process. The pipeline additionally runs on a 256 MiB disk, and the two pipeline children's peak
RSS are compared. Rounds interleave the four modes; each figure is the median over the rounds.

Timed interval: from just before ``multipart_start`` / ``open_disk`` until the last part is acknowledged (or the
last byte read). Lease set-up, ``CompleteMultipartUpload`` and clean-up are outside it: the uploads are checked
with ListParts (byte count) and aborted, because moto's CompleteMultipartUpload re-reads and concatenates every
part server-side (tens of seconds for 2 GiB), a cost that is the same for every path. ``--complete`` completes
the pipeline's uploads instead and reports how long that took (untimed in the rates).

``--profile MODE`` runs one child of MODE (download, upload, pipeline, twostep, connector) under cProfile with a per-thread
CPU clock (every thread, the upload threads included) and prints where the worker's CPU time goes.

Last line: ``datapath ratio=<x> speedup=<y> ideal_speedup=<z> rss_small_mib=<a> rss_large_mib=<b>
worker_cpu_s_per_gib=<c> tls_floor_cpu_s_per_gib=<d> portal_share_pct=<e> path=connector`` (x, a, b, c: the
connector agent's path; c its CPU seconds per GiB streamed; d: the TLS floor's; e: the share of the transfer the
agent spent waiting on the portal, presigning (per upload slot) and reporting). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import stop  # bench/processes.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024
BUCKET = "bench-datapath"
REGION = "us-east-1"
SMALL_VM, LARGE_VM = "bench-small", "bench-large"
RESULT_TAG = "BENCH-RESULT "


# --------------------------------------------------------------------------------------------------------------
# worker side (a child process per measurement)
# --------------------------------------------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return ru.ru_utime + ru.ru_stime


def _thread_cpu_profilers():
    """cProfile for every thread started from now on (and this one), timed by each thread's own CPU clock, so
    that the upload threads' hashing, TLS and copies show up and waiting does not."""
    import cProfile
    import threading

    profilers = [cProfile.Profile(time.thread_time)]

    def start(*_):  # the first event in a new thread: hand the thread over to a profiler of its own
        profiler = cProfile.Profile(time.thread_time)
        profilers.append(profiler)
        profiler.enable()

    threading.setprofile(start)
    profilers[0].enable()
    return profilers


def _profile_report(profilers, top: int = 28) -> str:
    import io
    import pstats
    import threading

    threading.setprofile(None)
    for profiler in profilers:
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profilers[0], stream=out)
    for profiler in profilers[1:]:
        if profiler.getstats():
            stats.add(profiler)
    stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(top)
    return out.getvalue()


def worker(spec: dict) -> dict:
    from django.conf import settings

    settings.configure(AWS_ENDPOINT_URL=spec["aws_url"], AWS_CA_BUNDLE=spec.get("ca_bundle"),
                       MIGRATION_UPLOAD_CONCURRENCY=spec["concurrency"])

    from concurrent.futures import ThreadPoolExecutor

    from connector import datapath
    from migrations_app.choices import MAX_DISK_STREAM_BYTES
    from adapters.aws import client as aws
    from adapters.vsphere import client as vsphere

    mode, part_size, concurrency = spec["mode"], spec["part_size"], spec["concurrency"]
    if mode in ("tcp-floor", "tls-floor"):
        return _floor_worker(spec)
    if mode == "connector":
        return _connector_worker(spec)
    s3 = aws.transfer_client(aws.AwsCredentials("testing", "testing"), REGION)  # as Runner.upload
    key = f"bench/{mode}-{spec['vm']}-{os.getpid()}.vmdk"
    result: dict = {"mode": mode, "vm": spec["vm"], "part_size": part_size, "concurrency": concurrency}

    vc = lease = device = None
    if mode != "upload":
        from adapters.outbound import OutboundPolicy

        # The sandbox listens on loopback over plain HTTP, which the outbound policy refuses unless allowed.
        vc = vsphere.VCenterSession(vsphere.VCenterConnection(
            url=spec["vc_url"], username=spec["vc_user"], password=spec["vc_password"],
            outbound=OutboundPolicy(allow_http=True, allowed_cidrs=("127.0.0.0/8",))))
        moref = next(v.moref for v in vc.list_vms() if v.name == spec["vm"])
        lease = vc.lease_wait_ready(vc.export_start(moref), timeout=60)
        device = next(d for d in lease.devices if d.disk)
        result["capacity"] = device.capacity_bytes
    # as Runner.upload: parts planned from the disk's capacity (8 MiB throughout for these sizes)
    plan = datapath.plan_parts(spec["bytes"] if mode == "upload" else device.capacity_bytes, minimum=part_size,
                               limit=MAX_DISK_STREAM_BYTES)
    part_size = plan.base
    result["part_size"] = part_size

    def upload_parts(source, total: int, upload_id: str) -> list:
        """Upload parts 1..n of `total` bytes, `concurrency` at a time; source(number, offset, size) -> bytes."""
        count = (total + part_size - 1) // part_size

        def one(number: int):
            offset = (number - 1) * part_size
            body = source(number, offset, min(part_size, total - offset))
            return aws.multipart_upload_part(s3, BUCKET, key, upload_id, number, body)

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-upload") as pool:
            return list(pool.map(one, range(1, count + 1)))

    upload_id = None
    rss_before = _status_kib("VmRSS") / 1024
    profilers = _thread_cpu_profilers() if spec.get("profile") else None
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    extra: dict = {}
    if mode == "download":
        stream = vc.open_disk(device, spec["vm"])
        n = 0
        try:
            while chunk := stream.read(1024 * 1024):
                n += len(chunk)
        finally:
            stream.close()
        nbytes = n
    elif mode == "upload":
        total = spec["bytes"]
        # Pre-generated, incompressible, distinct blocks; part k sends block k % len(blocks) (cut for the last).
        # bytearrays, as the pipeline hands over (botocore sends them as they are)
        blocks = [bytearray(os.urandom(part_size)) for _ in range(concurrency + 1)]
        cpu0, t0 = _cpu_seconds(), time.perf_counter()  # generation is not part of the upload
        upload_id = aws.multipart_start(s3, BUCKET, key, {"bench": "upload"})
        parts = upload_parts(lambda number, offset, size: blocks[number % len(blocks)] if size == part_size
                             else blocks[number % len(blocks)][:size], total, upload_id)
        nbytes = sum(p.size for p in parts)
    elif mode == "pipeline":
        upload_id = aws.multipart_start(s3, BUCKET, key, {"bench": "pipeline"})
        stream = vc.open_disk(device, spec["vm"])
        state = {"read": 0}

        def on_progress(p, state=state):  # what Runner.upload's callback does, minus the DB checkpoint
            state["read"] = p.bytes_read

        try:
            parts = datapath.stream_to_multipart(
                read=stream.read, readinto=stream.readinto, plan=plan, already={},
                upload_part=lambda n, body, crc: aws.multipart_upload_part(s3, BUCKET, key, upload_id, n, body, crc),
                concurrency=concurrency, max_bytes=MAX_DISK_STREAM_BYTES, on_progress=on_progress)
        finally:
            stream.close()
        nbytes = sum(p.size for p in parts)
    elif mode == "twostep":
        with tempfile.NamedTemporaryFile(prefix="bench-datapath-", suffix=".vmdk", dir=spec.get("tmpdir")) as tmp:
            stream = vc.open_disk(device, spec["vm"])
            try:
                while chunk := stream.read(1024 * 1024):
                    tmp.write(chunk)
            finally:
                stream.close()
            tmp.flush()
            total = tmp.tell()
            extra["download_seconds"] = time.perf_counter() - t0
            fd = tmp.fileno()
            upload_id = aws.multipart_start(s3, BUCKET, key, {"bench": "twostep"})
            def from_file(number, offset, size):
                buffer = bytearray(size)
                os.preadv(fd, [buffer], offset)
                return buffer

            parts = upload_parts(from_file, total, upload_id)
            nbytes = sum(p.size for p in parts)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    if profilers:
        extra["profile"] = _profile_report(profilers)
    result.update(bytes=nbytes, seconds=seconds, mib_s=nbytes / seconds / MIB, cpu_seconds=cpu,
                  rss_before_mib=rss_before, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  **extra)

    # -- untimed checks and clean-up
    if upload_id:
        listed = aws.multipart_parts(s3, BUCKET, key, upload_id)
        result["listed_bytes"] = sum(p.size for p in listed)
        if spec.get("complete") and mode == "pipeline":
            t = time.perf_counter()
            result["object_bytes"] = aws.multipart_complete(s3, BUCKET, key, upload_id, parts)
            result["complete_seconds"] = time.perf_counter() - t
            aws.object_delete(s3, BUCKET, key)
        else:
            aws.multipart_abort(s3, BUCKET, key, upload_id)
    if vc is not None:
        vc.lease_progress(lease.moref, 100)
        vc.lease_complete(lease.moref)
        vc.close()
    return result


def _connector_worker(spec: dict) -> dict:
    """The connector agent's whole path through a real portal (bench/agentportal.py): take the job from the portal,
    verify its token, check the user's export privilege, open the export lease, then stream the disk with
    presigned part URLs, one portal call per part, reporting every second, as `python -m connector run` does. Timed
    from the disk's upload being ready (its `begin/` answer) to the last part acknowledged (the `done/` call)."""
    from connector import config, protocol, work
    from connector.transport import Portal

    portal = Portal(spec["portal_url"], agent_id=spec["agent_id"], key=protocol.private_key_from_text(spec["agent_key"]))
    calls: dict[str, list[tuple[float, float]]] = {"presign": [], "report": [], "other": []}
    window: dict = {}
    post = portal.post

    def timed(path: str, payload: dict, **kwargs):
        started = time.perf_counter()
        if path.endswith("done/"):
            window.update(end=started, cpu_end=_cpu_seconds(), bytes=sum(p["size"] for p in payload["parts"]))
        try:
            return post(path, payload, **kwargs)
        finally:
            took = time.perf_counter() - started
            kind = "presign" if path.endswith("presign/") else "report" if path.endswith("report/") else "other"
            calls[kind].append((started, took))
            if path.endswith("begin/") and "start" not in window:
                if spec.get("profile"):
                    window["profilers"] = _thread_cpu_profilers()
                window.update(start=started + took, cpu_start=_cpu_seconds(),
                              rss_before=_status_kib("VmRSS") / 1024)

    portal.post = timed
    keys = post("agent/heartbeat/", {"version": "bench"})["portal_public_keys"]
    handouts = post("agent/work/", {"wait": 10})["jobs"]
    if len(handouts) != 1:
        raise SystemExit(f"the portal handed out {len(handouts)} jobs, not one")
    settings = config.Config(portal_url=spec["portal_url"], agent_id=spec["agent_id"], private_key=spec["agent_key"],
                             portal_public_keys=keys, s3_ca_bundle=spec.get("ca_bundle") or "",
                             vcenter={"url": spec["vc_url"], "username": spec["vc_user"],
                                      "password": spec["vc_password"], "verify_tls": False})
    job = work.MigrationExport(handouts[0], portal, settings)
    outcome = job.run()
    if outcome != "uploaded" or "end" not in window:
        raise SystemExit(f"the agent's job ended {outcome}")
    seconds = window["end"] - window["start"]
    extra = {"profile": _profile_report(window["profilers"])} if "profilers" in window else {}
    inside = lambda kind: sum(took for at, took in calls[kind] if window["start"] <= at <= window["end"])
    presign, report = inside("presign"), inside("report")
    nbytes = window["bytes"]
    return {"mode": "connector", "vm": spec["vm"], "part_size": handouts[0]["part_size"],
            "concurrency": handouts[0]["concurrency"], "bytes": nbytes, "seconds": seconds,
            "mib_s": nbytes / seconds / MIB, "cpu_seconds": window["cpu_end"] - window["cpu_start"],
            "rss_before_mib": window["rss_before"],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "capacity": nbytes, "listed_bytes": nbytes, "presign_calls": len(calls["presign"]),
            "presign_seconds": presign, "report_seconds": report,
            "presign_ms": sorted(took * 1000 for _, took in calls["presign"]),
            "report_ms": sorted(took * 1000 for _, took in calls["report"]),
            # The share of the upload slots' time spent waiting for the portal (a presigned URL not there yet when
            # the part's slot came free); reports go from the job's beat thread, off the data path.
            "portal_share": job.waited_on_portal / handouts[0]["concurrency"] / seconds, **extra}


def _floor_worker(spec: dict) -> dict:
    """Push spec["bytes"] to the sink, one sendall per part from reused buffers, then wait until the sink has
    read everything (it closes when it sees our end of stream)."""
    import ssl

    mode, part_size = spec["mode"], spec["part_size"]
    port = spec["sink_tls_port"] if mode == "tls-floor" else spec["sink_tcp_port"]
    blocks = [bytearray(os.urandom(part_size)) for _ in range(2)]
    rss_before = _status_kib("VmRSS") / 1024
    sock = socket.create_connection(("127.0.0.1", port))
    if mode == "tls-floor":
        sock = ssl.create_default_context(cafile=spec["sink_ca"]).wrap_socket(sock, server_hostname="127.0.0.1")
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    sent = 0
    while sent < spec["bytes"]:
        block = blocks[(sent // part_size) % 2]
        n = min(part_size, spec["bytes"] - sent)
        sock.sendall(block if n == part_size else memoryview(block)[:n])
        sent += n
    if mode == "tls-floor":
        sock = sock.unwrap()  # close_notify; the sink answers with its own once it has read everything
    sock.shutdown(socket.SHUT_WR)
    sock.recv(1)  # the sink closes after the last byte: everything was consumed
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    sock.close()
    return {"mode": mode, "vm": spec["vm"], "part_size": part_size, "concurrency": 1, "bytes": sent,
            "seconds": seconds, "mib_s": sent / seconds / MIB, "cpu_seconds": cpu, "rss_before_mib": rss_before,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def sink(tls_dir: str) -> None:
    """The floor modes' peer, its own process (like S3, it is not the worker): a plain TCP and a TLS listener
    (a new self-signed certificate in `tls_dir`, as the AWS sandbox makes its own) that read each connection to
    its end and discard the bytes. Prints the two ports, then serves until killed."""
    import ssl
    import threading

    from sandbox.aws.server import server_tls_context, tls_material

    context: ssl.SSLContext = server_tls_context(*tls_material(tls_dir))

    def drain(conn: socket.socket, tls: bool) -> None:
        buffer = bytearray(1024 * 1024)
        with conn:
            if tls:
                conn = context.wrap_socket(conn, server_side=True)
            try:
                while conn.recv_into(buffer):
                    pass
                if tls:
                    conn.unwrap()
            except (OSError, ssl.SSLError):
                pass

    def serve(listener: socket.socket, tls: bool) -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=drain, args=(conn, tls), daemon=True).start()

    listeners = []
    for tls in (False, True):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listeners.append(listener)
        threading.Thread(target=serve, args=(listener, tls), daemon=True).start()
    print(f"SINK {listeners[0].getsockname()[1]} {listeners[1].getsockname()[1]}", flush=True)
    threading.Event().wait()


# --------------------------------------------------------------------------------------------------------------
# orchestrator side
# --------------------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_cpu_seconds(pid: int | None) -> float:
    """A process's CPU with its live children's (gunicorn's master and its workers)."""
    if pid is None:
        return 0.0
    total = _proc_cpu_seconds(pid)
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return total
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        total += sum(_tree_cpu_seconds(int(child)) for child in children)
    return total


def _proc_cpu_seconds(pid: int | None) -> float:
    """user+sys CPU seconds of another process (all its threads), from /proc/<pid>/stat."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _machine_busy_seconds() -> float:
    """CPU seconds all processes on this machine spent busy (every core), from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values[:8]) - idle - steal) / os.sysconf("SC_CLK_TCK")


def _inventory(small_mib: int, large_mib: int) -> dict:
    from sandbox.vcenter.inventory import default_inventory

    inv = default_inventory()
    inv["lease_init_seconds"] = 0.05
    # Permissions on the stock VMs that these replace would name entities that no longer exist.
    inv["permissions"] = [p for p in inv["permissions"] if not p["entity"].startswith("/DC0/vm/Lab/")]
    dc = inv["datacenters"][0]
    dc["vms"] = [
        {"name": SMALL_VM, "folder": "Lab", "guest_id": "otherGuest64", "power_state": "poweredOff",
         "disks": [{"size_mb": small_mib, "datastore": "datastore1", "used_fraction": 1.0}]},
        {"name": LARGE_VM, "folder": "Lab", "guest_id": "otherGuest64", "power_state": "poweredOff",
         "disks": [{"size_mb": large_mib, "datastore": "datastore1", "used_fraction": 1.0}]},
    ]
    return inv


def _start_aws(logdir: str, https: bool) -> tuple[subprocess.Popen, str, str | None]:
    port = _free_port()
    log = open(Path(logdir) / "aws-sandbox.log", "ab")
    tls = ["--https-dir", logdir] if https else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.aws", "--port", str(port), "--speed", "0", "--no-default-amis", "--quiet",
         *tls], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    url = f"{'https' if https else 'http'}://127.0.0.1:{port}"
    ca_bundle = str(Path(logdir) / "ca.pem") if https else None
    from sandbox.aws import connect

    deadline = time.monotonic() + 60
    while True:
        try:
            if ca_bundle and not Path(ca_bundle).exists():
                raise OSError("no certificate yet")
            connect(url, ca_bundle=ca_bundle).state()
            return proc, url, ca_bundle
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"the AWS sandbox did not start; see {logdir}/aws-sandbox.log")
            time.sleep(0.2)


def _start_sink(logdir: str) -> tuple[subprocess.Popen, int, int, str]:
    tls_dir = Path(logdir) / "sink"
    tls_dir.mkdir()
    proc = subprocess.Popen([sys.executable, __file__, "--sink", str(tls_dir)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline().split()
    if len(line) != 3 or line[0] != "SINK":
        stop(proc)
        raise SystemExit(f"the floor sink did not start: {line}")
    return proc, int(line[1]), int(line[2]), str(tls_dir / "ca.pem")


def _run_child(spec: dict, pids: dict[str, int | None], vc) -> dict:
    before = {name: _tree_cpu_seconds(pid) for name, pid in pids.items()}
    ru0, busy0 = resource.getrusage(resource.RUSAGE_CHILDREN), _machine_busy_seconds()
    t = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    ru1, busy1 = resource.getrusage(resource.RUSAGE_CHILDREN), _machine_busy_seconds()
    vc.abort_leases()  # a crashed child must not leave the VM busy for the next one
    lines = [line for line in res.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if res.returncode != 0 or not lines:
        raise SystemExit(f"worker {spec['mode']} on {spec['vm']} failed (exit {res.returncode}):\n{res.stdout}")
    out = json.loads(lines[-1][len(RESULT_TAG):])
    # CPU of the peers over the whole child run (lease set-up included; the transfer dominates)
    for name, pid in pids.items():
        out[f"cpu_{name}"] = _tree_cpu_seconds(pid) - before[name]
    out["child_wall"] = wall
    # the worker child's whole CPU (it is the only child waited for in between), and everybody else's
    out["cpu_child"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    ours = out["cpu_child"] + sum(out[f"cpu_{name}"] for name in pids)
    out["other_cores"] = max(0.0, (busy1 - busy0) - ours) / wall
    return out


def _fmt(r: dict) -> str:
    s = (f"  {r['mode']:<8} {r['vm']:<11} {r['bytes'] / MIB:8.1f} MiB {r['seconds']:7.2f} s {r['mib_s']:8.1f} MiB/s"
         f" | cpu s: worker {r['cpu_seconds']:5.2f} aws {r['cpu_aws']:5.2f} vcsim {r['cpu_vcsim']:5.2f}"
         f" | others {r['other_cores']:4.2f} cores"
         f" | peak RSS {r['peak_rss_mib']:6.1f} MiB (before transfer {r['rss_before_mib']:5.1f})")
    if "download_seconds" in r:
        s += f" | download part {r['download_seconds']:.2f} s"
    if "complete_seconds" in r:
        s += f" | complete {r['complete_seconds']:.2f} s"
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/datapath.py", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds of the four modes (median is reported)")
    p.add_argument("--small-mib", type=int, default=256)
    p.add_argument("--large-mib", type=int, default=2048)
    p.add_argument("--rate-disk", choices=("large", "small"), default="large",
                   help="disk for the rate comparison (default: the large one)")
    p.add_argument("--part-size-mib", type=float, help="default: settings.MIGRATION_PART_SIZE")
    p.add_argument("--concurrency", type=int, help="default: settings.MIGRATION_UPLOAD_CONCURRENCY")
    p.add_argument("--complete", action="store_true",
                   help="complete the pipeline's multipart uploads (slow in moto; untimed)")
    p.add_argument("--tmpdir", help="directory for the two-step path's temporary file (default: $TMPDIR)")
    p.add_argument("--http", action="store_true",
                   help="reach the AWS sandbox over plain HTTP (botocore then hashes every body for the signature)")
    p.add_argument("--profile", choices=("download", "upload", "pipeline", "twostep", "connector"),
                   help="run one child of this mode under a per-thread CPU profiler and print the top functions")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--sink", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.sink:
        sink(args.sink)
        return 0

    if args.worker:
        result = worker(json.loads(args.worker))
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0

    import importlib

    os.environ.setdefault("DJANGO_DEBUG", "true")  # the settings' development defaults; no SECRET_KEY needed
    portal_settings = importlib.import_module("portal.settings")  # the defaults a worker would use
    part_size = int(args.part_size_mib * MIB) if args.part_size_mib else portal_settings.MIGRATION_PART_SIZE
    concurrency = args.concurrency or portal_settings.MIGRATION_UPLOAD_CONCURRENCY

    from sandbox.vcenter.server import start_vcenter

    started = time.perf_counter()
    logdir = tempfile.mkdtemp(prefix="bench-datapath-")
    print(f"bench/datapath.py: part size {part_size / MIB:g} MiB, concurrency {concurrency}, rounds {args.rounds}, "
          f"disks {args.small_mib} MiB and {args.large_mib} MiB (used_fraction 1.0), rates on the "
          f"{args.rate_disk} disk; {os.cpu_count()} CPUs", flush=True)
    aws_proc, aws_url, ca_bundle = _start_aws(logdir, https=not args.http)
    sink_proc, sink_tcp_port, sink_tls_port, sink_ca = _start_sink(logdir)
    try:
        with start_vcenter(inventory=_inventory(args.small_mib, args.large_mib), https=False) as vc:
            from sandbox.aws import connect

            connect(aws_url, ca_bundle=ca_bundle).client("s3").create_bucket(Bucket=BUCKET)
            print(f"sandboxes: vCenter {vc.url} (pid {vc.pid}), AWS {aws_url} (pid {aws_proc.pid}, separate "
                  f"process); ready after {time.perf_counter() - started:.1f} s", flush=True)
            import agentportal  # bench/agentportal.py, beside this script

            from connector import protocol

            agent_key = protocol.new_private_key()
            portal_proc, portal_url, portal = agentportal.start(
                logdir, aws_url=aws_url, ca_bundle=ca_bundle, part_size=part_size, concurrency=concurrency,
                port=_free_port(), public_key=protocol.public_key_text(agent_key))
            from adapters.outbound import OutboundPolicy
            from adapters.vsphere import client as vsphere

            with vsphere.session(vsphere.VCenterConnection(
                    url=vc.url, username=vc.username, password=vc.password,
                    outbound=OutboundPolicy(allow_http=True, allowed_cidrs=("127.0.0.0/8",)))) as session:
                morefs = {v.name: v.moref for v in session.list_vms()}
            print(f"portal (gunicorn, SQLite) {portal_url} (pid {portal_proc.pid}) for the connector path", flush=True)
            pids = {"aws": aws_proc.pid, "vcsim": vc.pid, "sink": sink_proc.pid, "portal": portal_proc.pid}

            def through_agent(vm: str) -> dict:
                agentportal.run_in_child("--job", portal["db"], morefs[vm], vm)
                return _run_child({**base, "mode": "connector", "vm": vm, "portal_url": portal_url,
                                   "agent_id": portal["agent_id"],
                                   "agent_key": protocol.private_key_text(agent_key)}, pids, vc)

            base = {"vc_url": vc.url, "vc_user": vc.username, "vc_password": vc.password, "aws_url": aws_url,
                    "ca_bundle": ca_bundle, "part_size": part_size, "concurrency": concurrency,
                    "tmpdir": args.tmpdir, "complete": args.complete, "sink_tcp_port": sink_tcp_port,
                    "sink_tls_port": sink_tls_port, "sink_ca": sink_ca}
            rate_vm = LARGE_VM if args.rate_disk == "large" else SMALL_VM
            if args.profile:
                spec = {**base, "mode": args.profile, "vm": rate_vm, "profile": True}
                if args.profile == "connector":
                    agentportal.run_in_child("--job", portal["db"], morefs[rate_vm], rate_vm)
                    spec.update(portal_url=portal_url, agent_id=portal["agent_id"],
                                agent_key=protocol.private_key_text(agent_key))
                if args.profile == "upload":
                    spec["bytes"] = _run_child({**base, "mode": "download", "vm": rate_vm}, pids, vc)["bytes"]
                r = _run_child(spec, pids, vc)
                print(_fmt(r))
                print(f"worker {r['cpu_seconds'] / (r['bytes'] / 2**30):.2f} CPU s/GiB under the profiler "
                      f"(which adds its own cost)\n{r['profile']}", flush=True)
                return 0
            runs: dict[str, list[dict]] = {"download": [], "upload": [], "pipeline": [], "twostep": [],
                                           "pipeline_small": [], "pipeline_large": [], "tcp-floor": [],
                                           "tls-floor": [], "connector": [], "connector_small": [],
                                           "connector_large": []}
            for rnd in range(1, args.rounds + 1):
                print(f"round {rnd}/{args.rounds}", flush=True)
                d = _run_child({**base, "mode": "download", "vm": rate_vm}, pids, vc)
                runs["download"].append(d)
                print(_fmt(d), flush=True)
                u = _run_child({**base, "mode": "upload", "vm": rate_vm, "bytes": d["bytes"]}, pids, vc)
                runs["upload"].append(u)
                print(_fmt(u), flush=True)
                for floor in ("tcp-floor", "tls-floor"):
                    f = _run_child({**base, "mode": floor, "vm": rate_vm, "bytes": d["bytes"],
                                    "part_size": runs["download"][0].get("part_size", part_size)}, pids, vc)
                    runs[floor].append(f)
                    print(_fmt(f), flush=True)
                for vm in dict.fromkeys([rate_vm, LARGE_VM, SMALL_VM]):
                    r = _run_child({**base, "mode": "pipeline", "vm": vm}, pids, vc)
                    if vm == rate_vm:
                        runs["pipeline"].append(r)
                    runs["pipeline_large" if vm == LARGE_VM else "pipeline_small"].append(r)
                    print(_fmt(r), flush=True)
                t2 = _run_child({**base, "mode": "twostep", "vm": rate_vm}, pids, vc)
                runs["twostep"].append(t2)
                print(_fmt(t2), flush=True)
                for vm in dict.fromkeys([rate_vm, LARGE_VM, SMALL_VM]):
                    r = through_agent(vm)
                    if vm == rate_vm:
                        runs["connector"].append(r)
                    runs["connector_large" if vm == LARGE_VM else "connector_small"].append(r)
                    print(_fmt(r) + f" | portal {r['cpu_portal']:5.2f} cpu s, {r['presign_calls']} presigns "
                          f"(median {statistics.median(r['presign_ms']):.0f} ms, max {r['presign_ms'][-1]:.0f}), "
                          f"{len(r['report_ms'])} reports, waiting on it {r['portal_share']:.2%}", flush=True)
            for r in runs["download"] + runs["pipeline_large"] + runs["pipeline_small"]:
                if not 0 < r["bytes"] <= r["capacity"] * 1.01 + MIB:  # streamOptimized: about the capacity
                    raise SystemExit(f"{r['mode']} read {r['bytes']} bytes of a disk of {r['capacity']} bytes")
            for name in ("upload", "pipeline", "twostep", "connector"):
                for r in runs[name]:
                    if r.get("listed_bytes", r["bytes"]) != r["bytes"] or r["bytes"] != runs["download"][0]["bytes"]:
                        raise SystemExit(f"byte count mismatch in {name}: {r}")
    except BaseException:
        print(f"sandbox logs kept in {logdir}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    finally:
        stop(sink_proc)
        stop(aws_proc)
        if "portal_proc" in locals():
            stop(portal_proc)

    def med(name: str, field: str = "mib_s") -> float:
        return statistics.median(r[field] for r in runs[name])

    # The targets judge the connector agent's path (agent + presigned URLs), which is how a migration moves its
    # disks; the streaming core alone (boto3 uploads, no portal) is printed beside it.
    d, u, pl, ts = med("download"), med("upload"), med("connector"), med("twostep")
    lo, hi = min(d, u), max(d, u)
    ratio = pl / lo
    speedup = pl / ts
    ideal = 1 + lo / hi
    rss_small = max(r["peak_rss_mib"] for r in runs["connector_small"])
    rss_large = max(r["peak_rss_mib"] for r in runs["connector_large"])
    portal_share = statistics.median(r["portal_share"] for r in runs["connector"])
    nbytes = runs["download"][0]["bytes"]

    def cores(name: str) -> str:
        ours = statistics.median((r["cpu_child"] + r["cpu_aws"] + r["cpu_vcsim"]) / r["child_wall"] for r in runs[name])
        others = statistics.median(r["other_cores"] for r in runs[name])
        worker = statistics.median(r["cpu_seconds"] / (r["bytes"] / 2**30) for r in runs[name])
        return (f"worker {worker:5.2f} CPU s/GiB; busy cores: worker+sandboxes {ours:.2f}, "
                f"other processes {others:.2f}")

    print()
    print(f"rates on {rate_vm} ({nbytes} bytes on the wire), median [min..max] of {args.rounds} round(s), MiB/s:")

    def spread(name: str) -> str:
        values = sorted(r["mib_s"] for r in runs[name])
        return f"[{values[0]:.1f}..{values[-1]:.1f}]"

    for label, name, value in (("download only", "download", d), ("upload only", "upload", u),
                               ("connector", "connector", pl), ("streaming core", "pipeline", med("pipeline")),
                               ("two-step", "twostep", ts)):
        print(f"  {label:<13} {value:8.1f} {spread(name):>17}  ({cores(name)})")
    ts_down = statistics.median(r["download_seconds"] for r in runs["twostep"])
    ts_total = statistics.median(r["seconds"] for r in runs["twostep"])
    print(f"  two-step split: download to file {ts_down:.2f} s ({nbytes / ts_down / MIB:.1f} MiB/s) + upload from file "
          f"{ts_total - ts_down:.2f} s; the ideal model assumes {nbytes / d / MIB:.2f} s + {nbytes / u / MIB:.2f} s")
    verdict = lambda ok: "met" if ok else "MISSED"
    print(f"connector / min(download, upload) = {ratio:.2f}   (target >= 0.90: {verdict(ratio >= 0.9)})")
    print(f"waiting on the portal (presigning per part, reporting), share of the transfer = {portal_share:.2%}   "
          f"(target <= 1%: {verdict(portal_share <= 0.01)})")
    print(f"speed-up over two-step = {speedup:.2f}, ideal 1 + min/max = {ideal:.2f}, "
          f"ratio {speedup / ideal:.2f}   (target >= 0.90 x ideal: {verdict(speedup >= 0.9 * ideal)})")
    print(f"agent peak RSS, connector: {args.small_mib} MiB disk {rss_small:.1f} MiB, {args.large_mib} MiB disk "
          f"{rss_large:.1f} MiB, difference {rss_large - rss_small:+.1f} MiB   "
          f"(target <= 16 MiB: {verdict(abs(rss_large - rss_small) <= 16)})")
    def per_gib(name: str) -> float:
        return statistics.median(r["cpu_seconds"] / (r["bytes"] / 2**30) for r in runs[name])

    worker_cpu, tcp_floor, tls_floor = per_gib("connector"), per_gib("tcp-floor"), per_gib("tls-floor")
    print(f"floor, the same bytes with one sendall per part into a sink process (no HTTP, no checksum, no download), "
          f"worker CPU s/GiB: plain TCP {tcp_floor:.2f}, TLS {tls_floor:.2f} (TLS adds {tls_floor - tcp_floor:.2f})")
    print(f"connector agent {worker_cpu:.2f} CPU s/GiB = TLS floor {tls_floor:.2f} + {worker_cpu - tls_floor:.2f} "
          f"(NFC download, CRC32, HTTP, threads, portal calls)   (target <= floor + 0.30: "
          f"{verdict(worker_cpu <= tls_floor + 0.3)}; streaming core {per_gib('pipeline'):.2f})")
    completes = [r["complete_seconds"] for r in runs["pipeline"] if "complete_seconds" in r]
    if completes:
        print(f"moto CompleteMultipartUpload of the pipeline's upload: median {statistics.median(completes):.2f} s")
    print(f"total run time {time.perf_counter() - started:.1f} s")
    print(f"datapath ratio={ratio:.2f} speedup={speedup:.2f} ideal_speedup={ideal:.2f} "
          f"rss_small_mib={rss_small:.1f} rss_large_mib={rss_large:.1f} worker_cpu_s_per_gib={worker_cpu:.2f} "
          f"tls_floor_cpu_s_per_gib={tls_floor:.2f} portal_share_pct={portal_share * 100:.2f} path=connector",
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
