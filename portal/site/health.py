"""Probes for the orchestrator: /healthz (the process answers; touches nothing) and /readyz (the database, the
cache and the task broker answer). Unauthenticated, so they say only ok or failed per dependency."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.observability.health import readiness


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = readiness()
    ready = all(check.ok for check in checks)
    return JsonResponse({"status": "ok" if ready else "failed",
                         "checks": {check.name: check.status for check in checks}}, status=200 if ready else 503)
