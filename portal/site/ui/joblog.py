"""A job's own log lines as a page (its workers' INFO and WARNING+ lines), exactly as visible as the job."""

from __future__ import annotations

from django.shortcuts import render

from migrations_app.models import MigrationTask
from portal.core.observability.selectors import job_log_for
from portal.core.pages import page
from portal.core.querysets import Need
from portal.core.roles import Action


@page(get=Need(Action.VIEW), row=MigrationTask, related=("environment",))
def migration_log(request, task):
    return render(request, "observability/job_log.html", {
        "title": f"Migration {task.pk} of {task.vm_name}", "task": task,
        "log_lines": job_log_for(kind="migration", job=task)})
