"""The worker side shared by environment jobs: one tick claims the job's lease and drives it from its checkpoint
until it finishes, waits longer than the tick's budget, or loses its lease."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from environments.jobs.queue import enqueue_tick
from environments.jobs.transitions import LeaseLost, checkpoint, job_transition, lease_claim, lease_release, lease_renew
from environments.models import Environment
from portal.core.errors import PortalError
from portal.core.models import User
from portal.core.roles import Action
from portal.integrations.aws import client as aws

logger = logging.getLogger("portal.environments.jobs")


class Moved(Exception):
    """The job changed state under us (cancelled, say); the loop reads the row again."""


class StepFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_tick(runner_class, task_id: int) -> str:
    close_old_connections()
    model = runner_class.model
    epoch = lease_claim(model, task_id=task_id, owner=worker_name(), ttl_seconds=settings.ENVIRONMENT_JOB_LEASE_SECONDS)
    if epoch is None:
        return "busy"
    outcome = "lease_lost"
    try:
        outcome = runner_class(task_id, epoch).run()
    except LeaseLost:
        logger.warning("%s %s: lease lost; another worker continues it", model.AUDIT_NAME, task_id)
    finally:
        lease_release(model, task_id=task_id, epoch=epoch)
    if outcome == "again":
        enqueue_tick(model, task_id)
    return outcome


def still_authorized(task) -> bool:
    """Authorization changes apply to running jobs too: the job's user must still be active and hold the general
    role on the environment (read fresh, never from a cache)."""
    user = User.objects.filter(pk=task.created_by_id, is_active=True).first()
    return user is not None and Environment.objects.restrict(user, Action.OPERATE).filter(
        pk=task.environment_id).exists()


class JobRunner:
    """Subclasses set `model`, return their steps by state from `steps()` and release what a job holds in
    `fail()`. A step returns None to go on at once, or the seconds to wait before it is called again."""

    model = None
    # States whose step acts for the job's user (so a revoked grant stops it); releasing steps run regardless.
    AUTHORIZED_STATES: frozenset = frozenset()

    def __init__(self, task_id: int, epoch: int):
        self.task_id, self.epoch = task_id, epoch

    def task(self):
        return self.model.objects.select_related("tenant", "environment__region", "created_by").get(pk=self.task_id)

    def save(self, **fields) -> None:
        checkpoint(self.model, task_id=self.task_id, epoch=self.epoch, **fields)

    def move(self, task, to: str, **fields):
        moved = job_transition(self.model, task_id=task.pk, to=to, epoch=self.epoch, expected_from={task.state},
                               **fields)
        if moved is None:
            raise Moved()
        return moved

    def steps(self) -> dict:
        raise NotImplementedError

    def fail(self, task, code: str, message: str) -> str:
        raise NotImplementedError

    def run(self) -> str:
        deadline = time.monotonic() + settings.ENVIRONMENT_JOB_TICK_BUDGET_SECONDS
        steps = self.steps()
        while True:
            task = self.task()
            if task.lease_epoch != self.epoch:
                raise LeaseLost(f"{self.model.AUDIT_NAME} {self.task_id}")
            if task.state not in steps:
                return "done"
            if task.state in self.AUTHORIZED_STATES and not still_authorized(task):
                return self.fail(task, "authz_revoked", f"{task.created_by.get_username()} no longer holds the "
                                 "general role on this environment (grant revoked or account deactivated), so the "
                                 "job was stopped.")
            try:
                wait_seconds = steps[task.state](task)
            except LeaseLost:
                raise
            except Moved:
                continue
            except StepFailed as exc:
                return self.fail(task, exc.code, exc.message)
            except PortalError as exc:  # the tenant's settings no longer allow it (AWS access removed, say)
                return self.fail(task, exc.code, exc.message)
            except aws.AwsError as exc:
                return self.fail(task, f"aws_{exc.code}"[:100], f"AWS: {exc.message}")
            except Exception as exc:  # a bug must fail the job visibly, never leave it hanging
                logger.exception("%s %s: unexpected error", self.model.AUDIT_NAME, self.task_id)
                return self.fail(task, "internal_error", f"Internal error: {exc.__class__.__name__}: {exc}")
            if wait_seconds is None:
                continue
            if time.monotonic() + wait_seconds > deadline:
                return "again"
            self.sleep(wait_seconds)

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.5))
            lease_renew(self.model, task_id=self.task_id, epoch=self.epoch,
                        ttl_seconds=settings.ENVIRONMENT_JOB_LEASE_SECONDS)
