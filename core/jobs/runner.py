"""The worker side of every kind: one tick claims the job's lease and drives its steps from the checkpoint until
the job ends, would only wait (it then schedules its own wake-up and hands the worker back), or the tick's budget
is spent. Every step and every cleanup runs under the tick's heartbeat and is fenced by the lease epoch: a worker
that lost the job never touches a peer again, whatever it was doing."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.db import close_old_connections
from django.utils import timezone

from adapters.aws.client import AwsError
from adapters.vsphere.client import VSphereError
from core.errors import PortalError
from core.jobs import lease, retry
from core.jobs.heartbeat import Cancelled, Heartbeat
from core.jobs.lease import LeaseLost
from core.jobs.queue import enqueue_tick, schedule_tick
from core.jobs.transitions import transition

logger = logging.getLogger("portal.jobs.runner")

RELEASE_NOTE = " (still releasing: "


class StepFailed(Exception):
    """A step's verdict that the job cannot succeed (not a peer's passing trouble): it fails the job."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Moved(Exception):
    """The job changed state under the step (cancelled, say): read the row again and act on what it says."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_tick(kind, job_id: int) -> str:
    close_old_connections()
    epoch = lease.claim(kind, job_id=job_id, owner=worker_name(), ttl_seconds=kind.setting("LEASE_SECONDS"))
    if epoch is None:
        return "busy"
    heartbeat = Heartbeat(kind, job_id, epoch)
    heartbeat.start()
    runner = kind.runner_class()(kind, job_id, epoch, heartbeat)
    outcome = "lease_lost"
    try:
        outcome = runner.run()
    except LeaseLost:
        logger.warning("%s %s: lease lost; another worker continues it", kind.name, job_id)
    finally:
        heartbeat.stop()
        runner.close()
        lease.release(kind, job_id=job_id, epoch=epoch)
    if outcome == "again":
        enqueue_tick(kind, job_id)
    return outcome


def _clock(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S")


class StepRunner:
    """What a kind's runner provides: `steps()` (state -> step; a step returns None to go on at once, the seconds
    to wait before it is called again, or, releasing, the tick's outcome), `release(job)` (its release rules: release what the job holds and
    return what is still there) and, optionally, `authorized(job)`, `before_retry(job)` and `close()`.

    Kinds with a `failing` state release until AWS and vCenter confirm that nothing is left (`release_until_done`,
    also the usual cancelling step); kinds without one release once, inline, and fail noting what remained."""

    # States whose step acts for the job's user, so a revoked grant stops it (default: every workable state but
    # the releasing ones).
    AUTHORIZED_STATES: frozenset | None = None
    select_related: tuple = ("tenant", "created_by")

    def __init__(self, kind, job_id: int, epoch: int, heartbeat: Heartbeat):
        self.kind, self.job_id, self.epoch, self.heartbeat = kind, job_id, epoch, heartbeat

    # -- what a kind provides --------------------------------------------------------------------------------

    def steps(self) -> dict:
        raise NotImplementedError

    def release(self, job) -> list[str]:
        return []

    def authorized(self, job) -> bool:
        return True

    def unauthorized_message(self, job) -> str:
        return (f"{job.created_by.get_username()} no longer may do this (grant revoked, or the account or its "
                f"organisation deactivated), so the job was stopped and everything it held was released.")

    def before_retry(self, job) -> None:
        """Let go of what must not be held while the job waits for its retry."""

    def close(self) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------------------------------

    def job(self):
        return self.kind.model.objects.select_related(*self.select_related).get(pk=self.job_id)

    def save(self, **fields) -> None:
        lease.checkpoint(self.kind, job_id=self.job_id, epoch=self.epoch, **fields)

    def fence(self) -> None:
        """Before every side effect at a peer and every cleanup: do we still hold the job? The heartbeat knows
        within a beat; the row is the truth."""
        self.heartbeat.fence()
        if not lease.holds(self.kind, job_id=self.job_id, epoch=self.epoch):
            raise LeaseLost(f"{self.kind.name} {self.job_id}")

    def move(self, job, to: str, **fields):
        moved = transition(self.kind, job_id=job.pk, to=to, epoch=self.epoch, expected_from={job.state}, **fields)
        if moved is None:
            raise Moved()
        return moved

    def cancelled_meanwhile(self) -> bool:
        """A cancel that came while this tick was busy found the lease held: this tick releases the job now
        rather than at its next wake-up."""
        return bool(self.kind.cancelling) and self.kind.model.objects.filter(
            pk=self.job_id, state=self.kind.cancelling).exists()

    def attempts(self) -> int:
        return self.kind.model.objects.filter(pk=self.job_id).values_list("attempts", flat=True).get()

    # -- the loop ----------------------------------------------------------------------------------------------

    def run(self) -> str:
        kind = self.kind
        deadline = time.monotonic() + kind.setting("TICK_BUDGET_SECONDS")
        inline_wait, slept, stepped = kind.setting("INLINE_WAIT_SECONDS"), 0.0, False
        steps = self.steps()
        if kind.failing:
            steps.setdefault(kind.failing, self.release_until_done)
        checked = self.AUTHORIZED_STATES
        if checked is None:
            checked = kind.workable - {kind.failing, kind.cancelling}
        while True:
            job = self.job()
            if job.lease_epoch != self.epoch:
                raise LeaseLost(f"{kind.name} {self.job_id}")
            if job.state not in steps:
                return "done"
            if stepped and time.monotonic() > deadline:
                return "again"  # a long run of steps goes on in a fresh tick
            stepped, outcome = False, None
            if job.state in checked and not self.authorized(job):
                outcome = self.fail(job, "authz_revoked", self.unauthorized_message(job))
            elif job.state in checked and job.attempts >= kind.setting("MAX_ATTEMPTS"):
                # Workers died holding it, again and again, in this step.
                outcome = self.fail(job, "too_many_attempts", f"The job was stopped after {job.attempts} failed "
                                    "attempts (its worker stopped each time); everything it held was released.")
            else:
                try:
                    wait_seconds = steps[job.state](job)
                except LeaseLost:
                    raise
                except (Cancelled, Moved):
                    continue
                except StepFailed as exc:
                    outcome = self.fail(job, exc.code, exc.message)
                except PortalError as exc:  # the tenant's settings no longer allow it (AWS access removed, say)
                    outcome = self.fail(job, exc.code, exc.message)
                except (VSphereError, AwsError) as exc:
                    outcome = self.failed_attempt(job, exc)
                except Exception as exc:  # a bug must end the job visibly, never leave it hanging
                    logger.exception("%s %s: unexpected error", kind.name, self.job_id)
                    outcome = self.fail(job, "internal_error", f"Internal error: {exc.__class__.__name__}: {exc}")
                else:
                    if isinstance(wait_seconds, str):  # a releasing step ends the tick with its outcome
                        return wait_seconds
                    if wait_seconds is None:
                        stepped = True
                        continue
                    if slept + wait_seconds <= inline_wait:
                        if time.monotonic() + wait_seconds > deadline:
                            return "again"  # a fresh tick goes on at once; no worker is held for long
                        time.sleep(wait_seconds)  # the tick's heartbeat keeps the lease meanwhile
                        slept += wait_seconds
                        continue
                    if self.cancelled_meanwhile():
                        continue  # the cancel is released now rather than at the next wake-up
                    return self.wait(wait_seconds)
            if outcome is not None:
                return outcome

    def wait(self, seconds: float) -> str:
        """Hand the worker back and be woken in `seconds` (run_tick releases the lease)."""
        wake = timezone.now() + timezone.timedelta(seconds=seconds)
        self.save(wake_at=wake)
        schedule_tick(self.kind, self.job_id, wake)
        return "waiting"

    def failed_attempt(self, job, exc: Exception) -> str | None:
        """A peer's error: retried from the checkpoint after a backoff when transient (nothing is released), the
        end of the job when permanent or when the step's attempts are used up."""
        if isinstance(exc, VSphereError):
            code, message = f"vcenter_{exc.code}", exc.message
        else:
            code, message = f"aws_{exc.code}", f"AWS: {exc.message}"
        verdict = retry.classify(exc)
        if verdict is None or not verdict.transient or job.state not in self.kind.workable - {self.kind.failing}:
            return self.fail(job, code[:100], message)
        self.fence()
        if self.cancelled_meanwhile() and job.state != self.kind.cancelling:
            return None  # the loop reads the row again and runs the cancel
        failed = self.attempts() + 1
        limit = self.kind.setting("MAX_ATTEMPTS")
        # Releasing (a cancel) never gives up: it is retried, ever more slowly, until the peers answer.
        releasing = job.state == self.kind.cancelling
        if failed >= limit and not releasing:
            self.save(attempts=failed)
            return self.fail(job, code[:100], f"{message} (gave up after {failed} attempts)")
        logger.warning("%s %s: attempt %s of %s failed, will retry: %s", self.kind.name, job.pk, failed, limit, exc)
        self.before_retry(job)
        wake = timezone.now() + timezone.timedelta(seconds=retry.backoff_seconds(self.kind, failed))
        self.save(attempts=failed, wake_at=wake, step=f"retrying: {verdict.what}"[:100],
                  status_message=f"{verdict.what}; retrying from the checkpoint at {_clock(wake)}, attempt "
                                 f"{failed + 1}" + ("" if releasing else f" of {limit}"))
        schedule_tick(self.kind, self.job_id, wake)
        return "retrying"

    # -- endings -----------------------------------------------------------------------------------------------

    def fail(self, job, code: str, message: str) -> str | None:
        """End the job as failed and release what it holds. Only the lease holder may: the move is fenced by the
        epoch, so a worker that lost the job never gets to clean up (its cleanup would take away what the new
        owner is working with). None: the job moved meanwhile (cancelled), read it again."""
        kind = self.kind
        logger.warning("%s %s failed: %s: %s", kind.name, job.pk, code, message)
        self.fence()
        running = kind.workable - {kind.failing, kind.cancelling}
        if kind.failing:
            moved = transition(kind, job_id=job.pk, to=kind.failing, epoch=self.epoch, expected_from=running,
                               step="failed; releasing what it held", error_code=code[:100],
                               status_message=message[:1000], wake_at=None)
            current = self.job()
            if current.lease_epoch != self.epoch:
                raise LeaseLost(f"{kind.name} {self.job_id}")
            if moved is None and current.state not in (kind.cancelling, kind.failing):
                return current.state  # finished meanwhile
            return self.release_until_done(current)
        if job.state == kind.cancelling:
            # A cancel that cannot go on ends, saying what it could not release.
            current = self.job()
            self.end_cancel(current, self.release(current) + [message])
            return "cancelled"
        problems = self.release(self.job())  # the step's checkpoints (AWS ids) are newer than the caller's copy
        suffix = f" (cleanup: {'; '.join(problems)})" if problems else ""
        failed = transition(kind, job_id=job.pk, to=kind.failed[0], epoch=self.epoch, expected_from=running,
                            step="failed", error_code=code[:100], status_message=(message + suffix)[:1000])
        if failed is None:
            if self.job().state == kind.cancelling:
                return None
            return "done"
        return "failed"

    def release_until_done(self, job) -> str:
        """Cancelling or failing: release everything, and end the job only once the peers confirm that nothing
        is left; until then it stays as it is, listing what remains, and tries again after a backoff."""
        self.fence()
        try:
            remaining = self.release(job)
        except LeaseLost:
            raise
        except Exception as exc:  # a bug must not end the job with its resources still held: keep trying
            logger.exception("%s %s: cleanup failed", self.kind.name, self.job_id)
            remaining = [f"everything it held (internal error: {exc.__class__.__name__})"]
        base = job.status_message.split(RELEASE_NOTE)[0]
        if not remaining:
            (to,) = self.kind.transitions[job.state]
            if transition(self.kind, job_id=job.pk, to=to, epoch=self.epoch, expected_from={job.state}, step=to,
                          status_message=base) is None:
                raise LeaseLost(f"{self.kind.name} {self.job_id}")
            return to
        failed = self.attempts() + 1
        wake = timezone.now() + timezone.timedelta(seconds=retry.backoff_seconds(self.kind, failed))
        note = f"{RELEASE_NOTE}{'; '.join(remaining)}; trying again at {_clock(wake)})"
        lease.checkpoint(self.kind, job_id=self.job_id, epoch=self.epoch, releasing=True, attempts=failed,
                         wake_at=wake, step="releasing what it held", status_message=(base[:1000 - len(note)] + note))
        schedule_tick(self.kind, self.job_id, wake)
        return "releasing"

    def end_cancel(self, job, problems: list[str], **fields):
        """For kinds that release inline: the cancel ends now, noting what could not be released."""
        suffix = f" (cleanup: {'; '.join(problems)})" if problems else ""
        (to,) = self.kind.transitions[job.state]
        self.move(job, to, step=to, status_message=(job.status_message + suffix)[:1000], **fields)
