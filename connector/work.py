"""The agent's work: take migrations from the portal (a long poll) and run their vCenter side here, beside the
vCenter: verify the job's token, check the user's own export privilege, power the VM off, hold the NFC export
lease, and stream each disk into S3 through presigned part URLs. Everything that needs AWS credentials (creating,
listing and completing the uploads, the import) the portal does; this host never holds one.

Each job runs under the lease epoch the portal handed with it. A report the portal refuses with `lease_lost` (the
lease lapsed and was handed on, or the job was cancelled) stops the job here at the next part: nothing more is
sent, and the export lease is given back."""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future
from typing import Callable

from adapters.vsphere import client as vsphere
from connector import config, datapath, protocol, s3, vcenter
from connector.transport import Portal, PortalError

logger = logging.getLogger("connector.work")
# The portal accepts a queued job's token this long after it was issued (a migration may wait in its queue).
RUN_WITHIN_SECONDS = 7 * 24 * 3600
PROGRESS_SECONDS = 1.0
# Portal troubles a call waits out (a restart, a proxy's hiccup), within the job's lease.
RETRIED = frozenset({"unreachable", "server", "throttled"})
CALL_RETRY_SECONDS = 0.5
# How long a request for work asks to be held while there is none, until a heartbeat's answer says what the portal
# holds (`work_wait_seconds`; a portal that does not say holds 50 s).
DEFAULT_WAIT_SECONDS = 50.0
# A request for work just answered still counts as held while the loop sends the next one.
HELD_GRACE_SECONDS = 5.0
# After an answer that rang and handed nothing, the next request waits this long: the heartbeat it asked for lands
# first, and a ring that kept coming back (keys that never match, say) costs one request a second, not a busy loop.
RING_PAUSE_SECONDS = 1.0
LAPSED = "cut off from the portal for longer than the job's lease"
# vCenter away, the agent's own login refused, or the portal's vCenter settings naming another destination than its
# account was entered for (an administrator fixes either on this host): retried, not failed.
TRANSIENT_VCENTER = frozenset({vsphere.UNREACHABLE, vsphere.OTHER, vsphere.AUTH, vcenter.DESTINATION_CHANGED})


class Stop(Exception):
    """The job is no longer this agent's (lease handed on, cancelled, or failed at the portal): stop quietly.
    `code` is the portal's answer (lease_lost, not_found, job_failed), empty when cut off from it."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class JobFailure(Exception):
    def __init__(self, code: str, message: str, *, transient: bool):
        super().__init__(message)
        self.code, self.message, self.transient = code, message, transient


class JobBeat(threading.Thread):
    """The job's heartbeat, for the whole time the job runs here: reports progress every second, which renews the
    job's lease at the portal, and renews the NFC export lease at vCenter well inside its timeout, whatever the
    disk stream is blocked on. Reporting here, never from the thread that reads the disk, keeps the portal off the
    data path."""

    def __init__(self, job: MigrationExport):
        super().__init__(daemon=True, name=f"job-{job.job_id}-beat")
        self.job = job
        self.stopped = threading.Event()
        self.lost: Exception | None = None

    def run(self):
        renewed = time.monotonic()
        while not self.stopped.wait(self.job.beat_interval):
            try:
                self.job.report()
                if time.monotonic() - renewed >= self.job.export_lease_interval:
                    self.job.renew_export_lease()
                    renewed = time.monotonic()
            except Stop as exc:
                self.lost = exc
                return
            except (PortalError, vsphere.VSphereError) as exc:
                # A missed beat is not yet a lost lease (three more fit in it): the next one tries again.
                logger.warning("job beat failed", extra={"fields": {"job": self.job.job_id,
                                                                     "category": getattr(exc, "category", "")}})

    def stop(self):
        self.stopped.set()


class MigrationExport:
    def __init__(self, handout: dict, portal: Portal, settings: config.Config):
        self.handout, self.portal, self.settings = handout, portal, settings
        self.job_id, self.epoch = int(handout["job_id"]), int(handout["epoch"])
        self.beat_interval = min(PROGRESS_SECONDS, max(0.2, handout["lease_seconds"] / 4))
        self.export_lease_interval = max(self.beat_interval, min(60.0, handout["lease_seconds"] / 4))
        self.waited_on_portal = 0.0  # seconds the data path stood still for the portal (the benchmark reads it)
        self.vc: vsphere.VCenterSession | None = None
        self.lease: vsphere.ExportLease | None = None
        self.lease_done = False
        self.progress = {"bytes_exported": 0, "bytes_uploaded": 0, "percent": 0}
        self._beat: JobBeat | None = None
        self.last_contact = time.monotonic()  # the handout itself

    # -- the portal --------------------------------------------------------------------------------------------

    def call(self, path: str, payload: dict | None = None) -> dict:
        """One call about the job. While the portal is out of reach (restarting, say) the call is tried again, for
        as long as the job's lease can still be ours; after that the job is no longer this agent's to go on with."""
        while True:
            try:
                answer = self.portal.post(f"agent/migrations/{self.job_id}/{path}",
                                          {"epoch": self.epoch, **(payload or {})})
            except PortalError as exc:
                if exc.status in (404, 409) and exc.code in ("lease_lost", "not_found", "job_failed"):
                    raise Stop(exc.message, exc.code) from None
                if exc.category not in RETRIED:
                    raise
                if self.lease_lapsed():
                    raise Stop(LAPSED) from None
                time.sleep(CALL_RETRY_SECONDS)
                continue
            self.last_contact = time.monotonic()
            return answer

    def lease_lapsed(self) -> bool:
        """Whether the portal may have handed the job on: no call went through for a whole lease period."""
        return time.monotonic() - self.last_contact >= self.handout["lease_seconds"]

    def report(self, **fields) -> None:
        self.call("report/", {"bytes_exported": self.progress["bytes_exported"],
                              "bytes_uploaded": self.progress["bytes_uploaded"], **fields})

    def renew_export_lease(self) -> None:
        if self.lease is not None and not self.lease_done:
            self.vc.lease_progress(self.lease.moref, self.progress["percent"])

    def check(self) -> None:
        """Between two parts: stop once the job is no longer ours, or may no longer be (cut off from the portal
        for longer than the lease: another agent may be sending this disk by now)."""
        if self._beat is not None and self._beat.lost is not None:
            raise self._beat.lost
        if self.lease_lapsed():
            raise Stop(LAPSED)

    # -- the job -----------------------------------------------------------------------------------------------

    def run(self) -> str:
        """The whole job here; never raises. Returns how it ended: uploaded, stopped, failed or retrying."""
        try:
            self._beat = JobBeat(self)
            self._beat.start()
            self._run()
            return "uploaded"
        except Stop as exc:
            logger.info("job stopped", extra={"fields": {"job": self.job_id, "reason": str(exc)}})
            return "stopped"
        except JobFailure as failure:
            return self.failed(failure)
        except vsphere.VSphereError as exc:
            return self.failed(JobFailure(f"vcenter_{exc.code}", exc.message,
                                          transient=exc.category in TRANSIENT_VCENTER))
        except s3.S3Error as exc:
            return self.failed(JobFailure(f"s3_{exc.code}", exc.message, transient=exc.transient))
        except datapath.StreamTooLarge:
            return self.failed(JobFailure("disk_too_large", "The disk stream passed 215 GB, the VM Import limit for "
                                          "a compressed disk; the transfer was stopped.", transient=False))
        except PortalError as exc:
            # The portal could not be reached or refused a step: its lease lapses and the job is handed on.
            logger.warning("job interrupted", extra={"fields": {"job": self.job_id, "category": exc.category,
                                                                 "reason": exc.message}})
            return "interrupted"
        except Exception:  # a bug must not leave the export lease held; the portal hands the job on
            logger.exception("job crashed", extra={"fields": {"job": self.job_id}})
            return "interrupted"
        finally:
            if self._beat is not None:
                self._beat.stop()
            self._give_back_export_lease()

    def failed(self, failure: JobFailure) -> str:
        logger.warning("job failed", extra={"fields": {"job": self.job_id, "code": failure.code,
                                                        "transient": failure.transient}})
        try:
            self.call("failed/", {"code": failure.code[:80], "message": failure.message[:1000],
                                  "transient": failure.transient})
        except Stop as exc:
            if exc.code in ("lease_lost", "not_found"):
                # The job was handed on (or cancelled) before this failure: it is the new owner's to go on with or
                # to fail, and nothing this agent reports counts; it stopped, as the platform's worker did on a
                # lost lease.
                logger.info("job stopped", extra={"fields": {"job": self.job_id, "reason": str(exc)}})
                return "stopped"
        except PortalError:
            pass  # the lease lapses and the portal hands the job on
        return "retrying" if failure.transient else "failed"

    def _give_back_export_lease(self) -> None:
        try:
            if self.lease is not None and not self.lease_done:
                self.vc.lease_abort(self.lease.moref, "the migration stopped on the connector")
        except vsphere.VSphereError:
            pass  # vCenter ends an export lease that is no longer renewed by itself
        finally:
            if self.vc is not None:
                self.vc.close()

    def _verified_principal(self) -> str:
        """The job's token, verified with the portal keys this agent pinned: the portal's database alone cannot
        make this agent export a VM."""
        keys = [protocol.public_key_from_text(k) for k in self.settings.portal_public_keys]
        try:
            claims = protocol.verify_token(self.handout["token"], keys, run_within_seconds=RUN_WITHIN_SECONDS)
        except protocol.ProtocolError as exc:
            raise JobFailure(f"token_{exc.reason}", f"The connector refused the job: {exc.message}",
                             transient=False) from None
        if claims.vm_moref != self.handout["vm_moref"] or not claims.principal:
            raise JobFailure("token_binding", "The connector refused the job: its token was issued for another "
                                              "virtual machine.", transient=False)
        return claims.principal

    def _run(self) -> None:
        principal = self._verified_principal()
        if not self.settings.vcenter:
            raise JobFailure("vcenter_not_configured", "The connector has no vCenter configured (python -m connector "
                                                       "vcenter).", transient=True)
        self.vc = vsphere.VCenterSession(vcenter.connection(self.settings.vcenter, self.settings.portal_vcenter))
        moref = self.handout["vm_moref"]
        vm = self.vc.get_vm(moref)
        if not vsphere.may_export(self.vc.privileges_of(moref, principal)):
            raise JobFailure("no_vcenter_privilege", f"{principal} does not hold the {vsphere.EXPORT_PRIVILEGE} "
                                                     f"privilege on {vm.name} (checked by the connector).",
                             transient=False)
        if vm.power_state != "poweredOff":
            if not self.handout["power_off"]:
                raise JobFailure("vm_powered_on", f"{vm.name} was powered on again before the export started.",
                                 transient=False)
            self.report(step="powering off", status_message=f"Powering off {vm.name}")
            self.vc.power_off(moref)
        if self.handout.get("previous_export_lease"):
            # An earlier attempt's lease (its agent was killed): vCenter exports a VM through one lease at a time.
            self.vc.lease_abort(self.handout["previous_export_lease"], "superseded by a new export attempt")
        self.report(step="waiting for the export lease", status_message=f"Opening the export of {vm.name}")
        opened = self.vc.export_start(moref)
        self.report(nfc_lease_moref=opened)  # saved before the wait, so a successor can abort it
        self.lease = self.vc.lease_wait_ready(opened, timeout=300)
        devices = [d for d in self.lease.devices if d.disk]
        disks = self.call("exported/", {"device_keys": [d.key for d in devices],
                                        "capacities": [d.capacity_bytes for d in devices],
                                        "total_capacity": self.lease.total_capacity_bytes})["disks"]
        by_key = {d.key: d for d in devices}
        total = sum(d["size"] for d in disks) or 1
        base = sum(d["size"] for d in disks if d["done"])
        for index, disk in enumerate(disks):
            if disk["done"]:
                continue
            moved = self._send_disk(index, by_key[disk["device_key"]], vm.name, base, total)
            base += disk["size"] or moved
        self.progress.update(bytes_exported=base, bytes_uploaded=base, percent=100)
        self.vc.lease_progress(self.lease.moref, 100)
        self.vc.lease_complete(self.lease.moref)
        self.lease_done = True
        self.call("uploaded/")

    def _send_disk(self, index: int, device: vsphere.LeaseDevice, vm_name: str, base: int, total: int) -> int:
        """One disk into its multipart upload, resuming from what S3 holds; returns the bytes its stream gave."""
        restart, capacity = "", 0
        while True:
            upload = self.call(f"disks/{index}/begin/", {"restart": restart, "capacity": capacity})
            already = {p["part_number"]: s3.SentPart(p["part_number"], p["etag"], p["size"], p["crc32"])
                       for p in upload["parts"]}
            stream = self.vc.open_disk(device, vm_name)
            bound = upload["size"] or self.handout["max_disk_bytes"]

            def on_progress(p: datapath.Progress):  # the job's beat sends it
                self.progress.update(bytes_exported=base + min(p.bytes_read, bound),
                                     bytes_uploaded=base + min(p.bytes_uploaded, bound),
                                     percent=int(100 * (base + min(p.bytes_read, bound)) / total))

            urls = PresignedUrls(self, index, upload["upload_id"], self.handout["concurrency"])
            try:
                parts = datapath.stream_to_multipart(
                    read=stream.read, readinto=stream.readinto, plan=datapath.PartPlan.from_dict(upload["plan"]),
                    already=already, upload_part=urls.upload_part, on_read=urls.ask,
                    concurrency=self.handout["concurrency"], max_bytes=self.handout["max_disk_bytes"],
                    on_progress=on_progress, check=self.check)
            except datapath.SourceChanged as exc:
                # S3 holds parts of another version of this disk: the portal aborts that upload, the disk starts
                # again, whole, in a new one.
                restart, capacity = str(exc), device.capacity_bytes
                continue
            except s3.S3Error as exc:
                if exc.code != "NoSuchUpload":
                    raise
                restart, capacity = "", 0  # the portal finds the upload gone and starts a new one
                continue
            finally:
                stream.close()
                urls.close()
            resumed = sum(1 for p in parts if p.part_number in already)
            answer = self.call(f"disks/{index}/done/", {
                "upload_id": upload["upload_id"], "resumed": resumed,
                "parts": [{"part_number": p.part_number, "etag": p.etag, "size": p.size, "crc32": p.crc32}
                          for p in parts]})
            if answer.get("done"):
                return sum(p.size for p in parts)
            restart, capacity = "", 0



class PresignedUrls:
    """Each part's presigned URL, asked for as soon as the part is read (its CRC32 is signed in, so not before),
    while the part still waits for an upload slot: the asking overlaps the uploads in flight. Parts read while
    another ask is on its way go together in the next one (up to the portal's limit a call), so a burst of parts
    (the first ones, or several slots coming free at once) costs one round trip, not one each; at most
    `concurrency` asks are on their way at once."""

    MAX_PARTS_PER_CALL = 64  # the portal's limit (migrations_app.agent_work.MAX_PARTS_PER_PRESIGN)

    def __init__(self, job: MigrationExport, index: int, upload_id: str, concurrency: int):
        from concurrent.futures import ThreadPoolExecutor

        self.job, self.index, self.upload_id = job, index, upload_id
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="presign")
        self.asked: dict[int, Future] = {}
        self.unasked: list[tuple[int, int, Future]] = []  # read, not yet in an ask on its way
        self.lock = threading.Lock()

    def _presign(self, parts: list[tuple[int, int]]) -> dict[int, dict]:
        answer = self.job.call(f"disks/{self.index}/presign/", {
            "upload_id": self.upload_id, "parts": [{"part_number": number, "crc32": crc} for number, crc in parts]})
        return {signed["part_number"]: signed for signed in answer["parts"]}

    def _ask_unasked(self) -> None:
        """Ask for every part read and not asked for yet, in one call (none: another ask took them)."""
        with self.lock:
            batch, self.unasked = self.unasked[:self.MAX_PARTS_PER_CALL], self.unasked[self.MAX_PARTS_PER_CALL:]
        if not batch:
            return
        try:
            signed = self._presign([(number, crc) for number, crc, _ in batch])
        except BaseException as exc:  # every part of the ask fails as the call did, in its upload slot
            for _, _, future in batch:
                future.set_exception(exc)
            return
        for number, _, future in batch:
            if number in signed:
                future.set_result(signed[number])
            else:
                future.set_exception(PortalError("rejected", f"The portal signed no URL for part {number}."))

    def ask(self, number: int, crc: int) -> None:
        future: Future = Future()
        with self.lock:
            self.asked[number] = future
            self.unasked.append((number, crc, future))
        self.pool.submit(self._ask_unasked)

    def upload_part(self, number: int, body, crc: int) -> s3.SentPart:
        with self.lock:
            asked = self.asked.pop(number, None)
        started = time.monotonic()
        signed = asked.result() if asked is not None else self._presign([(number, crc)])[number]
        waited = time.monotonic() - started
        with self.lock:
            self.job.waited_on_portal += waited
        return s3.put_part(signed["url"], signed["headers"], body, part_number=number, crc32=crc,
                           ca_bundle=self.job.settings.s3_ca_bundle)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        with self.lock:
            for _, _, future in self.unasked:
                future.cancel()
            self.unasked.clear()


class WorkLoop:
    """Asks the portal for work whenever it has room (at most the portal's limit of jobs at once) and runs each job
    in its own thread. The request is a long poll: the portal holds it until work arrives, so a migration waiting
    for this agent is taken within about a second, with one request per wait while there is none."""

    def __init__(self, portal_of: Callable[[], Portal], settings_of: Callable[[], config.Config], *,
                 wait_seconds: float = DEFAULT_WAIT_SECONDS, max_jobs: int = 4,
                 on_beat: Callable[[], None] = lambda: None):
        self.portal_of, self.settings_of = portal_of, settings_of
        self.wait_seconds, self.max_jobs = wait_seconds, max_jobs
        self.on_beat = on_beat  # the portal has something to tell the agent: its heartbeat asks for it now
        self.running: dict[int, threading.Thread] = {}
        self._asking = False
        self._answered_at = -math.inf
        self.rang_idle = False  # the last answer rang and handed nothing

    def held(self) -> bool:
        """Whether the portal holds this loop's request for work now (or answered one a moment ago): that request
        keeps the agent's contact and rings it (`on_beat`) when there is something to hear, so the heartbeat can
        be rare meanwhile."""
        return self._asking or time.monotonic() - self._answered_at < HELD_GRACE_SECONDS

    def _reap(self) -> None:
        for job_id in [j for j, thread in self.running.items() if not thread.is_alive()]:
            del self.running[job_id]

    def poll_once(self, wait: float | None = None) -> int:
        """One request for work; starts what it is handed. Returns how many jobs were started."""
        self._reap()
        if len(self.running) >= self.max_jobs or self.settings_of().updating:
            time.sleep(0.2 if not self.settings_of().updating else 2)
            return 0
        wait = self.wait_seconds if wait is None else wait
        self._asking = True
        try:
            answer = self.portal_of().post(
                "agent/work/", {"wait": wait, "keys": protocol.keys_digest(self.settings_of().portal_public_keys)},
                timeout=wait + 30)
        finally:
            self._asking = False
        self._answered_at = time.monotonic()
        self.rang_idle = bool(answer.get("beat")) and not answer.get("jobs")
        if answer.get("beat"):
            self.on_beat()
        started = 0
        for handout in answer.get("jobs", []):
            job_id = int(handout["job_id"])
            if job_id in self.running:
                continue
            job = MigrationExport(handout, self.portal_of(), self.settings_of())
            thread = threading.Thread(target=job.run, name=f"job-{job_id}", daemon=True)
            self.running[job_id] = thread
            thread.start()
            started += 1
            logger.info("job taken", extra={"fields": {"job": job_id, "vm": handout.get("vm_name", "")}})
        return started

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self.poll_once()
                failures = 0
                if self.rang_idle:
                    stop.wait(RING_PAUSE_SECONDS)
            except PortalError as exc:
                if exc.category == "refused":
                    self.on_beat()  # the heartbeat loop hears the refusal itself now, reports it and ends the agent
                    return
                failures += 1
                stop.wait(min(60, 2 ** min(failures, 6)))
