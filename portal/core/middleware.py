"""Remembers where the current request came from, so audit rows written deep in services can say so."""

import contextvars

current_remote_addr: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_remote_addr", default=None)


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it, and the
        # deployment guide puts the proxy's own header handling in front of gunicorn.
        token = current_remote_addr.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            current_remote_addr.reset(token)
