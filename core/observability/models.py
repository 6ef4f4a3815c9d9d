"""A job's own log lines, kept for its detail page and API."""

from django.db import models


class JobLogLine(models.Model):
    """One INFO or WARNING+ line logged while a tick worked on a job (`job_context`); the last
    JOB_LOG_MAX_LINES per job are kept. Jobs live in higher layers, so a line names its job by kind and id, and is
    only ever read through a job its reader was allowed to see (selectors.job_log_for)."""

    kind = models.CharField(max_length=32)
    job_id = models.BigIntegerField()
    at = models.DateTimeField()
    level = models.CharField(max_length=10)
    logger = models.CharField(max_length=100)
    message = models.CharField(max_length=1000)

    class Meta:
        indexes = [models.Index(fields=["kind", "job_id", "id"], name="joblogline_job_idx")]
        ordering = ["id"]

    def __str__(self):
        return f"{self.kind} {self.job_id} {self.level}: {self.message[:60]}"
