"""At most EXPORT_MAX_ACTIVE_PER_REGION exports per region, first come first served for the rest with a visible
queue position, and never two live exports of one instance, under concurrent requests (threads on their own
database connections, released together by a barrier; run on PostgreSQL as well as SQLite)."""

import threading

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from environments import services as env_services
from environments.models import ImportedInstance
from exports import services
from exports.admission import queue_position
from exports.choices import ACTIVE, ExportState
from exports.models import ExportBucket, ExportTask
from tests.jobs_engine.drive import export_transition


@pytest.fixture
def a(transactional_db, world):
    return world.a


def _instances(a, count, start=1, environment=None):
    return [ImportedInstance.objects.create(tenant=a.tenant, environment=environment or a.environment,
                                            instance_id=f"i-{start + i:017x}", source_vm_name=f"vm{i}")
            for i in range(count)]


def _together(count, work):
    """Run work(i) in `count` threads that start at the same moment; returns their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which asserts on it
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_five_run_the_rest_wait_in_order(a, api):
    tasks = [services.export_create(actor=a.admin, instance=i) for i in _instances(a, 7)]
    assert [t.state for t in tasks] == ["exporting"] * 5 + ["queued"] * 2
    assert [queue_position(t) for t in tasks] == [None] * 5 + [1, 2]
    listed = api.as_user(a.admin).get(reverse("api:export-list"), {"state": "queued"}).json()["results"]
    assert {row["id"]: row["queue_position"] for row in listed} == {tasks[5].pk: 1, tasks[6].pk: 2}
    # A slot frees when an export ends: the oldest waiting one starts, the other moves up.
    export_transition(task_id=tasks[0].pk, to=ExportState.COMPLETED)
    assert ExportTask.objects.get(pk=tasks[5].pk).state == ExportState.EXPORTING
    assert queue_position(ExportTask.objects.get(pk=tasks[6].pk)) == 1
    # A cancelling export still holds its slot (AWS counts it until the cancel is done).
    export_transition(task_id=tasks[1].pk, to=ExportState.CANCELLING)
    assert ExportTask.objects.get(pk=tasks[6].pk).state == ExportState.QUEUED
    export_transition(task_id=tasks[1].pk, to=ExportState.CANCELLED)
    assert ExportTask.objects.get(pk=tasks[6].pk).state == ExportState.EXPORTING


def test_the_limit_is_a_setting_and_regions_count_separately(a):
    other = env_services.region_create(actor=a.admin, code="eu-west-1")
    ExportBucket.objects.create(tenant=a.tenant, region=other, name="export-to-s3-world-acme-eu-west-1")
    with override_settings(EXPORT_MAX_ACTIVE_PER_REGION=2):
        here = [services.export_create(actor=a.admin, instance=i) for i in _instances(a, 3)]
        there = [services.export_create(actor=a.admin, instance=i)
                 for i in _instances(a, 3, start=100, environment=other.environments.get())]
    assert [t.state for t in here] == [t.state for t in there] == ["exporting", "exporting", "queued"]


def test_concurrent_requests_never_start_more_than_five_per_region(a):
    instances = _instances(a, 12)
    results = _together(12, lambda i: services.export_create(actor=a.admin, instance=instances[i]).pk)
    assert all(isinstance(r, int) for r in results), results
    live = ExportTask.objects.filter(pk__in=results)
    assert live.filter(state__in=ACTIVE).count() == 5
    queued = live.filter(state=ExportState.QUEUED).order_by("created_at", "id")
    assert [queue_position(t) for t in queued] == list(range(1, 8))


def test_concurrent_requests_for_one_instance_start_one_export(a):
    (instance,) = _instances(a, 1)

    def post(_):
        client = APIClient()
        client.force_authenticate(a.admin)
        response = client.post(reverse("api:export-list"), {"instance": instance.pk, "s3_prefix": "vms/"},
                               format="json")
        return response.status_code, response.json()

    results = _together(8, post)
    assert sorted(code for code, _ in results) == [201] + [409] * 7, results
    (winner,) = [body["id"] for code, body in results if code == 201]
    for code, body in results:
        if code == 409:
            assert f"export {winner}" in body["errors"][0]["detail"], body
            assert body["errors"][0]["code"] == "instance_busy"
    assert ExportTask.objects.filter(ec2_instance_id=instance.instance_id).count() == 1


def test_a_finished_export_does_not_block_the_next_one(a):
    (instance,) = _instances(a, 1)
    first = services.export_create(actor=a.admin, instance=instance)
    export_transition(task_id=first.pk, to=ExportState.FAILED)
    second = services.export_create(actor=a.admin, instance=instance)
    assert second.state == ExportState.EXPORTING
