"""The WSGI application: Django's handler for people's pages and API, and a second one, with a shorter middleware
chain, for the connector agents' endpoints (`/api/v1/agent/`).

Why two: a thousand idle agents each re-ask for work every AGENT_WORK_WAIT_SECONDS, eight requests a second (at
120 s) that the portal answers while nothing happens (bench/connectors.py). Those requests carry no session, no
cookie and no browser: sessions, CSRF, messages, login lock-outs, htmx, static files, the deactivated-tenant logout
and framing headers have nothing to do for them (their authentication checks the tenant itself), yet each would run
on every request. The agents' chain keeps what applies to any request: the security middleware (HTTPS redirect, HSTS,
nosniff), the common one (Content-Length, slash redirects), the client address for audit rows, and the request id,
log line and latency of the observability middleware."""

import gc
import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

AGENT_PATH_PREFIX = "/api/v1/agent/"
AGENT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",  # Content-Length: a kept-alive connection without chunking
    "core.middleware.RequestContextMiddleware",
    "core.observability.middleware.RequestObservabilityMiddleware",
]


class AgentHandler(WSGIHandler):
    """Django's handler with the agents' middleware chain: Django builds a handler's chain from
    `settings.MIDDLEWARE` once, when the handler is made, so the setting names this chain while it is built."""

    def load_middleware(self, is_async=False):
        site_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = AGENT_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = site_middleware


site_application = get_wsgi_application()
agent_application = AgentHandler()


def application(environ, start_response):
    handler = agent_application if environ.get("PATH_INFO", "").startswith(AGENT_PATH_PREFIX) else site_application
    return handler(environ, start_response)


# What is loaded by now (Django, the apps and their models) lives as long as the process: keep it out of the
# collector's passes, which otherwise walk it again on every full collection (bench/connectors.py, a web process
# holding 330 agents' long polls: 0.25 s of the collector per minute, 0.13 s frozen).
gc.freeze()
