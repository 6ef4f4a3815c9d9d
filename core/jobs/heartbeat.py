"""One heartbeat for the whole tick: renews the job's lease well inside its timeout whatever the step blocks on (a
slow AWS call retried by botocore, an export lease that takes minutes to be ready, a power-off), so no slow step
lets the reconciler hand the job to a second worker; and notices a cancel and a lost lease for the step to act on
at its next check."""

from __future__ import annotations

import logging
import threading

from django.db import connection

from core.jobs.lease import LeaseLost, renew

logger = logging.getLogger("portal.jobs.heartbeat")


class Cancelled(Exception):
    """The job was cancelled while a step ran: the loop reads the row again and releases it."""


class Heartbeat(threading.Thread):
    def __init__(self, kind, job_id: int, epoch: int):
        super().__init__(daemon=True, name=f"{kind.name}-{job_id}-heartbeat")
        self.kind, self.job_id, self.epoch = kind, job_id, epoch
        self.lease_seconds = kind.setting("LEASE_SECONDS")
        # A second lease some steps hold at a peer (vCenter's NFC export lease), beaten alongside the job's.
        self.peer_beat = None
        self.peer_timeout: float | None = None
        self.stopped = threading.Event()
        self.lost = self.cancelled = False
        self.error: Exception | None = None

    @property
    def interval(self) -> float:
        # A quarter of the shorter of the two timeouts: three beats may be lost before either lease lapses.
        shortest = min(self.lease_seconds, self.peer_timeout or self.lease_seconds)
        return max(0.2, shortest / 4)

    def watch_peer(self, beat, timeout: float) -> None:
        self.peer_timeout, self.peer_beat = timeout, beat

    def unwatch_peer(self) -> None:
        self.peer_beat, self.peer_timeout, self.error = None, None, None

    def run(self):
        try:
            while not self.stopped.wait(self.interval):
                try:
                    renew(self.kind, job_id=self.job_id, epoch=self.epoch, ttl_seconds=self.lease_seconds)
                except LeaseLost:
                    self.lost = True
                    return
                if self.kind.cancelling:
                    state = self.kind.model.objects.filter(pk=self.job_id).values_list("state", flat=True).first()
                    self.cancelled = state == self.kind.cancelling
                beat = self.peer_beat
                if beat is not None:
                    try:
                        beat()
                    except Exception as exc:  # the step raises it at its next check, where it is classified
                        self.error = exc
        except Exception:  # the database went away, say: stop renewing, so the lease lapses and is handed on
            logger.exception("%s %s: heartbeat stopped", self.kind.name, self.job_id)
            self.lost = True
        finally:
            connection.close()

    def fence(self):
        """Raise LeaseLost once another worker may hold the job."""
        if self.lost:
            raise LeaseLost(f"{self.kind.name} {self.job_id}")

    def check(self):
        """Between two pieces of a long step: stop on a lost lease, a cancel, or the peer lease's failure."""
        self.fence()
        if self.cancelled:
            raise Cancelled()
        if self.error is not None:
            raise self.error

    def stop(self):
        self.stopped.set()
        self.join(timeout=30)
