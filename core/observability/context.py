"""What the current log line is about: the request, its tenant and user, and the job a worker tick works on.

Context variables, so that threads and (future) async views each see their own."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from dataclasses import dataclass, field

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_tenant", default=None)
user: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_user", default=None)


@dataclass
class JobScope:
    """The job a tick works on, and the lines its log handler has buffered for it (written when the tick ends, so
    that a line logged inside a transaction that then rolls back, the failure's own line, is kept)."""

    kind: str
    id: int
    buffer: list = field(default_factory=list)


job: contextvars.ContextVar[JobScope | None] = contextvars.ContextVar("log_job", default=None)

logger = logging.getLogger("portal.observability")


@contextlib.contextmanager
def job_context(kind: str, job_id: int, *, tenant_id: int | None = None):
    """Tags every log line inside with the job (kind, id); the job's INFO and WARNING+ lines are stored for its
    detail page and API (JobLogLine) when the block ends, however it ends."""
    scope = JobScope(kind=kind, id=int(job_id))
    job_token = job.set(scope)
    tenant_token = tenant.set(str(tenant_id)) if tenant_id is not None else None
    try:
        yield scope
    finally:
        job.reset(job_token)
        if tenant_token is not None:
            tenant.reset(tenant_token)
        if scope.buffer:
            from core.observability.joblog import job_log_store

            try:
                job_log_store(kind=kind, job_id=scope.id, lines=scope.buffer)
            except Exception:  # noqa: BLE001 -- losing log lines must not fail the tick that wrote them
                logger.exception("could not store %d log lines of %s %s", len(scope.buffer), kind, job_id)
