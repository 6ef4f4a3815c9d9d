"""Observability: request ids and job context for every log line, JSON logs, a job's own log lines, the
Prometheus metrics this process counts, and the health checks the site serves.

`job_context(kind, id)` is what job ticks wrap their work in; `admission_refused` and `peer_error` are the hooks
feature apps and adapters call. Importing this package loads no models."""

from core.observability.context import job_context
from core.observability.metrics import admission_refused, peer_error

__all__ = ["admission_refused", "job_context", "peer_error"]
