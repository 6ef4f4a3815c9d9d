"""The metrics this process counts (prometheus-client), and the hooks other layers call to count.

Counts that live in the database (jobs by state, bytes moved, queue depth) are read at scrape time by the site's
collector (portal.site.metrics), so they are right whichever process did the work. The counters here are counted
in the process where the event happens: web workers and django-q2 workers alike. With several processes set
PROMETHEUS_MULTIPROC_DIR (a directory wiped before start, shared by gunicorn and qcluster); each process then
writes its counts there and /metrics sums them (README, Metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds", "Time to answer an HTTP request, by route name.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ADMISSION_REFUSALS = Counter(
    "portal_admission_refusals", "Times admission found no free slot for a queued job, by job kind and limit.",
    ["kind", "reason"],
)
PEER_ERRORS = Counter(
    "portal_peer_errors", "Failed calls to a peer (aws, vsphere), by the adapter's error category.",
    ["peer", "category"],
)
WEBHOOK_ATTEMPTS = Counter(
    "portal_webhook_attempts", "Webhook delivery attempts, by outcome (delivered, retry, failed, refused).",
    ["outcome"],
)
EMAILS_SENT = Counter("portal_notification_emails", "Notification e-mails, by outcome (sent, failed).", ["outcome"])


def admission_refused(kind: str, reason: str) -> None:
    """Call where admission leaves a queued job waiting for lack of a slot (`reason`: region_limit, tenant_limit,
    aws_limit)."""
    ADMISSION_REFUSALS.labels(kind=kind, reason=reason).inc()


def peer_error(peer: str, category: str) -> None:
    """Registered with adapters.peer_errors at startup; the adapters call that."""
    PEER_ERRORS.labels(peer=peer, category=category or "other").inc()


def request_observed(*, view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(view=view, method=method, status=f"{status // 100}xx").observe(seconds)
