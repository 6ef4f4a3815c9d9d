"""Per request: an id for its log lines (echoed as X-Request-ID), its tenant and user in the log context, one
access log line, and its latency by route name."""

from __future__ import annotations

import logging
import re
import time
import uuid

from core.observability import context
from core.observability.metrics import request_observed

access_logger = logging.getLogger("portal.request")

HEADER = "X-Request-ID"
# A caller's (or proxy's) id is kept when it is a plain token: it goes into every log line as it is.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def _route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    # Route names, never paths: paths carry ids, and a label per id would grow without end.
    return (match.view_name or match._func_path) if match is not None else "<unmatched>"


def _identify(request) -> None:
    """The tenant and user of the request, once authentication has run (DRF authenticates in the view and sets the
    user on the underlying request, so this runs again after the view)."""
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        context.user.set(user.get_username())
        # The id, not the slug: the slug would cost a query on requests that never load the tenant.
        tenant_id = getattr(user, "tenant_id", None)
        context.tenant.set(str(tenant_id) if tenant_id is not None else None)


class RequestObservabilityMiddleware:
    """Place it after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "")
        rid = incoming if _ACCEPTABLE_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = rid
        tokens = (context.request_id.set(rid), context.tenant.set(None), context.user.set(None))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            _identify(request)
            elapsed = time.perf_counter() - started
            route = _route_of(request)
            request_observed(view=route, method=request.method, status=response.status_code, seconds=elapsed)
            access_logger.info("%s %s %s %.1fms", request.method, route, response.status_code, elapsed * 1000,
                               extra={"path": request.path, "status": response.status_code,
                                      "duration_ms": round(elapsed * 1000, 1)})
            response[HEADER] = rid
            return response
        finally:
            context.request_id.reset(tokens[0])
            context.tenant.reset(tokens[1])
            context.user.reset(tokens[2])

    def process_view(self, request, view_func, view_args, view_kwargs):
        _identify(request)
