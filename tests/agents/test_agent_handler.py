"""The WSGI application (`portal.wsgi`) serves the connector agents' endpoints through a shorter middleware chain than
people's pages and API: what only a browser's request needs (sessions, CSRF, messages, lock-outs, framing headers)
is not run for an agent's, and what any request needs still is (the security headers, Content-Length, the request
id and the access log line, the client's address)."""

import io
import json
import logging

import pytest
from django.conf import settings
from django.core import signals
from django.db import close_old_connections

from connector import protocol
from core.connectors.models import Agent
from portal import wsgi

WORK = "/api/v1/agent/work/"


@pytest.fixture(autouse=True)
def _keep_the_tests_transaction():
    """As Django's test client does: the handler's request signals would close the test's connection mid-transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def call(method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """One request through `portal.wsgi.application`, as gunicorn or runserver makes it."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "testserver", "SERVER_PORT": "80",
               "HTTP_HOST": "testserver", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json", "REMOTE_ADDR": "192.0.2.7",
               "HTTP_ACCEPT": "application/json",
               **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in (headers or {}).items()}}
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = int(status.split()[0]), dict(response_headers)

    content = b"".join(wsgi.application(environ, start_response))
    return started["status"], started["headers"], content


def test_an_agents_request_skips_what_only_a_browsers_request_needs():
    status, headers, content = call("POST", WORK, b"{}")
    assert status == 401 and json.loads(content)["errors"]
    assert headers["X-Request-ID"] and headers["Content-Length"] == str(len(content))
    assert headers["X-Content-Type-Options"] == "nosniff"  # the security middleware ran
    assert "X-Frame-Options" not in headers and "Set-Cookie" not in headers
    assert "Cookie" not in headers.get("Vary", "")  # no session looked at

    status, headers, _ = call("GET", "/api/v1/migrations/")
    assert status in (401, 403)
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Request-ID"]  # people's API: the site's whole chain
    assert "django.contrib.sessions.middleware.SessionMiddleware" in settings.MIDDLEWARE  # the site's setting kept


def test_a_signed_request_for_work_is_answered_and_logged_through_the_agents_chain(world, caplog):
    key = protocol.new_private_key()
    agent = Agent.objects.create(tenant=world.a.tenant, name="dc-a", public_key=protocol.public_key_text(key))
    body = json.dumps({"wait": 0}).encode()
    signed = protocol.sign_request(key, agent_id=str(agent.pk), method="POST", path=WORK, body=body)
    with caplog.at_level(logging.INFO, logger="portal.request"):
        status, headers, content = call("POST", WORK, body, signed)
    assert status == 200, content
    assert json.loads(content) == {"jobs": [], "beat": False}
    [line] = [r for r in caplog.records if r.name == "portal.request"]
    assert line.getMessage().startswith("POST api:agent-work 200") and line.path == WORK
    agent.refresh_from_db()
    assert agent.address == "192.0.2.7"  # the client's address, as the site's chain gives it
