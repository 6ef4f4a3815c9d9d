"""Operator endpoints outside the API and the pages: liveness, readiness and Prometheus metrics."""

from django.urls import path

from portal.site import health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
