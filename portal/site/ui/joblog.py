"""A job's own log lines as a page (its workers' INFO and WARNING+ lines), exactly as visible as the job."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from migrations_app.models import MigrationTask
from portal.core.observability.selectors import job_log_for
from portal.core.roles import Action


@login_required
@require_GET
def migration_log(request, pk: int):
    task = MigrationTask.objects.restrict(request.user, Action.VIEW).select_related("environment").filter(
        pk=pk).first()
    if task is None:
        raise Http404()
    return render(request, "observability/job_log.html", {
        "title": f"Migration {task.pk} of {task.vm_name}", "task": task,
        "log_lines": job_log_for(kind="migration", job=task)})
