"""Structured logs: a request id on every line of a request (echoed as X-Request-ID), one JSON object per line, and
a job's own lines kept (bounded) and served on its detail API."""

from __future__ import annotations

import json
import logging

import pytest

from core.observability import context, job_context
from core.observability.logs import ContextFilter, JsonFormatter
from core.observability.models import JobLogLine


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())
        self.lines = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def collected():
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    yield handler.lines
    logging.getLogger().removeHandler(handler)


def test_request_id_is_echoed_and_on_the_access_line(world, client, collected):
    client.force_login(world.a.admin)
    response = client.get("/audit-log/", HTTP_X_REQUEST_ID="trace-0123456789abcdef")
    assert response["X-Request-ID"] == "trace-0123456789abcdef"
    access = [line for line in collected if line["logger"] == "portal.request"]
    assert access[-1]["request_id"] == "trace-0123456789abcdef"
    assert access[-1]["user"] == world.a.admin.username
    assert access[-1]["tenant"] == str(world.a.tenant.pk)
    assert "ui:audit-log" in access[-1]["message"]
    assert (access[-1]["path"], access[-1]["status"]) == ("/audit-log/", 200)


def test_an_unusable_incoming_id_is_replaced(db, client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces\nand a newline")
    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


def test_json_lines_carry_the_job_and_an_exception(db, collected):
    logger = logging.getLogger("portal.test")
    with job_context("export", 7):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("export step failed")
    line = collected[-1]
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "portal.test", "export step failed")
    assert (line["job_kind"], line["job_id"]) == ("export", 7)
    assert "ValueError: boom" in line["exc_info"]
    assert context.job.get() is None


def test_job_lines_are_stored_bounded_and_only_the_jobs_own(db, settings):
    settings.JOB_LOG_MAX_LINES = 5
    product, library = logging.getLogger("portal.migrations.test"), logging.getLogger("urllib3.test")
    product.info("outside any job")
    with job_context("migration", 41):
        for n in range(7):
            product.info("step %d", n)
        library.info("library chatter")
        library.warning("library trouble")
    with job_context("migration", 42):
        product.warning("another job")
    lines = list(JobLogLine.objects.filter(kind="migration", job_id=41).values_list("level", "message"))
    assert lines == [("INFO", "step 3"), ("INFO", "step 4"), ("INFO", "step 5"), ("INFO", "step 6"),
                     ("WARNING", "library trouble")]
    with job_context("migration", 41):
        product.error("later")
    assert JobLogLine.objects.filter(kind="migration", job_id=41).count() == 5
    assert JobLogLine.objects.filter(kind="migration", job_id=41).last().message == "later"


def test_a_line_logged_in_a_rolled_back_transaction_is_kept(db):
    from django.db import transaction

    with job_context("migration", 43):
        with pytest.raises(RuntimeError), transaction.atomic():
            logging.getLogger("portal.migrations.test").warning("about to fail")
            raise RuntimeError
    assert JobLogLine.objects.filter(job_id=43).values_list("message", flat=True).get() == "about to fail"


def test_migration_log_endpoint_follows_the_migration_permissions(world, api):
    with job_context("migration", world.a.migration.pk):
        logging.getLogger("portal.migrations.pipeline").warning("ESX host unreachable; retrying")
    url = f"/api/v1/migrations/{world.a.migration.pk}/log/"
    body = api.as_user(world.a.user_general).get(url).json()
    assert [(line["level"], line["message"]) for line in body] == [("WARNING", "ESX host unreachable; retrying")]
    assert api.as_user(world.a.auditor).get(url).status_code == 200
    assert api.as_user(world.a.user_nogrant).get(url).status_code == 404
    assert api.as_user(world.b.admin).get(url).status_code == 404
