"""Log formatting and routing: one line per event, JSON in production, each line carrying the request id, tenant,
user and job it belongs to; and the handler that keeps a job's own lines for its detail page.

Wired in settings.LOGGING (LOG_FORMAT=json|text)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from core.observability import context

# Loggers whose INFO lines inside a job are the job's story; WARNING+ is kept from any logger.
PRODUCT_LOGGERS = ("portal", "migrations_app", "exports", "environments")
_CONTEXT_FIELDS = ("request_id", "tenant", "user", "job_kind", "job_id")
# Structured fields a call site may pass with `extra=` (the access line does).
_EXTRA_FIELDS = ("path", "status", "duration_ms")


class ContextFilter(logging.Filter):
    """Adds the current request id, tenant, user and job to every record (None where there is none), so both
    formatters, and anything else downstream, can read them as attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = context.job.get()
        record.request_id = context.request_id.get()
        record.tenant = context.tenant.get()
        record.user = context.user.get()
        record.job_kind = scope.kind if scope else None
        record.job_id = scope.id if scope else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context fields that are set,
    and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*_CONTEXT_FIELDS, *_EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The development format, with the context fields that are set appended as key=value."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = " ".join(f"{name}={getattr(record, name)}" for name in _CONTEXT_FIELDS
                        if getattr(record, name, None) is not None)
        return f"{text} [{tags}]" if tags else text


class JobLogHandler(logging.Handler):
    """Buffers the lines of the job the current tick works on (`context.job_context`): WARNING and above from any
    logger, INFO from the product's own. `job_context` writes them when the tick ends (JobLogLine)."""

    def __init__(self, level=logging.INFO):
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        scope = context.job.get()
        if scope is None:
            return
        if record.levelno < logging.WARNING and not record.name.startswith(PRODUCT_LOGGERS):
            return
        try:
            scope.buffer.append({
                "at": datetime.fromtimestamp(record.created, tz=timezone.utc),
                "level": record.levelname[:10],
                "logger": record.name[:100],
                "message": record.getMessage()[:1000],
            })
        except Exception:  # noqa: BLE001 -- logging must not raise into the caller
            self.handleError(record)
