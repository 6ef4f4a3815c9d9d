"""Reading a job's log lines."""

from __future__ import annotations

from django.db import models

from core.observability.models import JobLogLine


def job_log_for(*, kind: str, job: models.Model) -> models.QuerySet:
    """The stored log lines of `job`, oldest first. `job` must come from `restrict()` for the reader: the lines are
    exactly as visible as their job."""
    return JobLogLine.objects.filter(kind=kind, job_id=job.pk).order_by("id")
