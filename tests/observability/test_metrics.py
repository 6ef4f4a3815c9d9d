"""/metrics: protected by a bearer token or an address allow-list, and showing request latency by route, jobs by
kind and state from the database, admission refusals and peer errors counted through their hooks."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import observability
from adapters import peer_errors


def _samples(response) -> dict:
    text = response.content.decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "scrape-me-0123456789"
    settings.METRICS_ALLOWED_CIDRS = []
    return settings.METRICS_TOKEN


@pytest.mark.django_db
def test_metrics_are_hidden_without_a_token_or_allow_list(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_CIDRS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 401


@pytest.mark.django_db
def test_wrong_token_is_401_and_no_token_is_404(client, token):
    assert client.get("/metrics").status_code == 404
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.django_db
def test_allow_listed_addresses_scrape_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_CIDRS = ["10.9.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.9.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.8.3.4").status_code == 404


def test_jobs_latency_refusals_and_peer_errors(world, api, client, token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    before = _samples(client.get("/metrics", **auth))
    assert api.as_user(world.a.admin).get(f"/api/v1/migrations/{world.a.migration.pk}/").status_code == 200
    observability.admission_refused("migration", "region_limit")
    peer_errors.report(peer_errors.VSPHERE, "unreachable")
    peer_errors.report(peer_errors.AWS, peer_errors.aws_category("RequestLimitExceeded"))

    after = _samples(client.get("/metrics", **auth))

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    # The world holds one queued migration per tenant, one completed export (4096 bytes) and one available backup.
    assert after[("portal_jobs", (("kind", "migration"), ("state", "queued")))] == 2
    assert after[("portal_jobs", (("kind", "export"), ("state", "completed")))] == 2
    assert after[("portal_jobs", (("kind", "backup"), ("state", "available")))] == 2
    assert after[("portal_job_bytes", (("direction", "exported"), ("kind", "export")))] == 8192
    assert after[("portal_jobs_queued_oldest_seconds", (("kind", "migration"),))] >= 0
    assert ("portal_queue_depth", ()) in after
    assert grew("portal_http_request_duration_seconds_count", view="api:migration-detail", method="GET",
                status="2xx") == 1
    assert grew("portal_admission_refusals_total", kind="migration", reason="region_limit") == 1
    assert grew("portal_peer_errors_total", peer="vsphere", category="unreachable") == 1
    assert grew("portal_peer_errors_total", peer="aws", category="throttling") == 1


def test_a_failing_listener_does_not_break_the_reporting_adapter():
    def broken(peer, category):
        raise RuntimeError("listener bug")

    peer_errors.listeners.append(broken)
    try:
        peer_errors.report(peer_errors.AWS, "other")
    finally:
        peer_errors.listeners.remove(broken)
