"""Writing a job's log lines (called by `job_context` when a tick ends; nobody else writes them)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from core.observability.models import JobLogLine


def job_log_store(*, kind: str, job_id: int, lines: list[dict]) -> None:
    """Append `lines` to the job's log and drop all but its newest JOB_LOG_MAX_LINES."""
    keep = settings.JOB_LOG_MAX_LINES
    with transaction.atomic():
        JobLogLine.objects.bulk_create([JobLogLine(kind=kind, job_id=job_id, **line) for line in lines[-keep:]])
        oldest_kept = list(JobLogLine.objects.filter(kind=kind, job_id=job_id).order_by("-id").values_list(
            "id", flat=True)[keep - 1:keep])
        if oldest_kept:
            JobLogLine.objects.filter(kind=kind, job_id=job_id, id__lt=oldest_kept[0]).delete()
