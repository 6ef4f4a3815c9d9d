"""/metrics for Prometheus: the counters this process (or, in multiprocess mode, every process) counted, plus the
figures that live in the database, read at scrape time so they are right whichever process did the work.

Only for a scraper that sends `Authorization: Bearer <METRICS_TOKEN>` (401 for a wrong token) or connects from
METRICS_ALLOWED_CIDRS; everyone else gets 404, as if there were no such page.

Database-derived figures (gauges; history retention deletes old rows, so they are not counters):
- portal_jobs{kind,state}: jobs of each registered kind (migration, export, backup, launch) by state;
- portal_job_bytes{kind,direction}: the bytes each kind declares it moves (`JobKind.bytes_moved`: exported from
  vCenter and uploaded to S3 by migrations, the size of finished EC2 exports), summed over the jobs on record;
- portal_queue_depth: tasks waiting in the django-q2 broker; portal_jobs_queued_oldest_seconds{kind}: how long
  the oldest queued job of each kind has been waiting (0 when none waits);
- portal_webhook_deliveries{state}: webhook deliveries by state.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.db.models import Count, Min
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.jobs.kinds import kinds
from core.middleware import client_address
from core.notifications.models import WebhookDelivery

logger = logging.getLogger("portal.metrics")


class DatabaseCollector:
    """Counts read from the job tables at scrape time (a handful of aggregate queries)."""

    def collect(self):
        jobs = GaugeMetricFamily("portal_jobs", "Jobs by kind and state.", labels=["kind", "state"])
        oldest = GaugeMetricFamily("portal_jobs_queued_oldest_seconds",
                                   "Seconds the oldest queued job of each kind has waited.", labels=["kind"])
        now = timezone.now()
        for kind in kinds():
            for row in kind.model.objects.order_by().values("state").annotate(n=Count("id")):
                jobs.add_metric([kind.name, row["state"]], row["n"])
            first = kind.model.objects.filter(state=kind.queued).aggregate(first=Min("created_at"))["first"]
            oldest.add_metric([kind.name], (now - first).total_seconds() if first else 0.0)
        yield jobs
        yield oldest

        moved = GaugeMetricFamily("portal_job_bytes", "Bytes moved by the jobs on record.",
                                  labels=["kind", "direction"])
        for kind in kinds():
            if kind.bytes_moved:
                sums = kind.model.objects.aggregate(**kind.bytes_moved)
                for direction in kind.bytes_moved:
                    moved.add_metric([kind.name, direction], sums[direction] or 0)
        yield moved

        deliveries = GaugeMetricFamily("portal_webhook_deliveries", "Webhook deliveries by state.", labels=["state"])
        for row in WebhookDelivery.objects.order_by().values("state").annotate(n=Count("id")):
            deliveries.add_metric([row["state"]], row["n"])
        yield deliveries

        depth = GaugeMetricFamily("portal_queue_depth", "Tasks waiting in the django-q2 broker.")
        try:
            from django_q.brokers import get_broker

            depth.add_metric([], get_broker().queue_size() or 0)
        except Exception as exc:  # noqa: BLE001 -- a broker outage shows in /readyz; keep the other figures
            logger.warning("metrics: broker queue size unavailable: %r", exc)
        else:
            yield depth


class _ProcessCollector:
    """This process's own metrics (the default registry), when there is no multiprocess directory."""

    def collect(self):
        yield from REGISTRY.collect()


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(DatabaseCollector())
    return registry


def _allowed(request) -> bool:
    """True for the right bearer token or an allow-listed address; Http404 or a 401 answer otherwise."""
    header = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer "):].encode(), settings.METRICS_TOKEN.encode())
    address = client_address(request)
    if address and settings.METRICS_ALLOWED_CIDRS:
        ip = ipaddress.ip_address(address)
        if any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in settings.METRICS_ALLOWED_CIDRS):
            return True
    if header:
        return False
    raise Http404()


@never_cache
@require_GET
def metrics_view(request):
    if not _allowed(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
