"""Every fault the sandboxes can inject ends in a clear status message and leaves nothing behind, or is
survived where a real system would survive it (lease renewals, S3 retries)."""

import socket

import pytest
from django.urls import reverse

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from adapters.vsphere import client as vsphere
from tests.jobs_engine.drive import run_tick
from tests.migrations.conftest import assert_no_leftovers

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _run(s, start_migration, vm="web01", **overrides):
    response = start_migration(s, s.alice, vm, **overrides)
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    for _ in range(30):
        run_tick(task_id)
        task = MigrationTask.objects.get(pk=task_id)
        if task.is_terminal:
            return task
    raise AssertionError("migration did not finish")


def test_unresolvable_esx_host_fails_with_the_exact_message(setup, start_migration, settings):
    """An unreachable ESX host may be a passing network fault, so it is retried; once the attempts are used up
    the job fails with the original portal's exact message, and says how often it tried. The connector meets it
    (it streams the disks), so the error code names it."""
    s = setup
    settings.MIGRATION_MAX_ATTEMPTS = 2
    s.vcenter.set_faults(esx_host_unresolvable="esx07.unresolvable.invalid")
    task = _run(s, start_migration)
    assert task.state == MigrationState.FAILED
    assert task.status_message == ("Connector is unable to reach ESX host esx07.unresolvable.invalid to migrate "
                                   "virtual machine web01 (gave up after 2 attempts)")
    assert task.error_code == "connector_vcenter_esx_unreachable"
    assert_no_leftovers(s, task)


def test_dns_suffixes_are_tried_in_order(monkeypatch):
    """Name resolution is the one thing no sandbox peer can vary here, so it is the one thing faked."""
    tried = []

    def fake_getaddrinfo(name, *args, **kwargs):
        tried.append(name)
        if name == "esx07.lab.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert vsphere._resolve("esx07", ("corp.example", "lab.example", "other.example")) == "esx07.lab.example"
    assert tried == ["esx07", "esx07.corp.example", "esx07.lab.example"]
    assert vsphere._resolve("esx08", ("corp.example",)) is None


def test_stream_cut_midway_fails_cleanly(setup, start_migration, settings):
    """Every download is cut: retried from the checkpoint (test_transient_errors.py), then failed cleanly."""
    s = setup
    settings.MIGRATION_MAX_ATTEMPTS = 2
    s.vcenter.set_faults(nfc_cut_after_bytes=6 * 1024 * 1024)
    task = _run(s, start_migration)
    assert task.state == MigrationState.FAILED
    assert "broke" in task.status_message or "ended after" in task.status_message
    assert_no_leftovers(s, task)


def test_lease_error_fails_cleanly(setup, start_migration):
    s = setup
    s.vcenter.set_faults(lease_error_after_seconds=0)
    task = _run(s, start_migration)
    assert task.state == MigrationState.FAILED
    assert "export lease" in task.status_message
    assert_no_leftovers(s, task)


def test_slow_stream_survives_a_short_lease_timeout(setup, start_migration):
    """The stream takes longer than the NFC lease timeout; progress renewals keep the lease alive."""
    s = setup
    s.aws.set_speed(500)
    s.vcenter.set_faults(lease_timeout_seconds=2, nfc_bytes_per_second=4 * 1024 * 1024)  # ~5 s for 17 MiB
    task = _run(s, start_migration)
    assert task.state == MigrationState.COMPLETED, task.status_message


def test_s3_errors_are_retried_then_reported(setup, start_migration, settings):
    """S3 errors are transient: retried from the checkpoint, and reported once the attempts are used up (before, a
    5xx that outlasted boto3's retries failed the job at once). The parts go to S3 from the connector, through
    presigned URLs, so the error is the connector's, naming the part S3 refused."""
    s = setup
    s.aws.set_speed(500)
    settings.MIGRATION_MAX_ATTEMPTS = 2
    s.aws.set_faults(s3_error="SlowDown", s3_error_count=2, s3_error_operations=["UploadPart"])
    assert _run(s, start_migration).state == MigrationState.COMPLETED  # throttling is retried
    s.aws.set_faults(s3_error="InternalError", s3_error_count=-1, s3_error_operations=["UploadPart"])
    task = _run(s, start_migration, vm="db01")
    assert task.state == MigrationState.FAILED
    assert task.status_message.startswith("S3 refused part ") and task.error_code == "connector_s3_InternalError"
    assert "(InternalError)" in task.status_message
    assert task.status_message.endswith("(gave up after 2 attempts)")
    s.aws.clear_faults()
    assert_no_leftovers(s, task)


def test_import_ending_deleted_fails_with_aws_reason(setup, start_migration):
    s = setup
    s.aws.set_speed(500)
    s.aws.set_faults(import_failure="ClientError: Unknown OS / Missing OS files.")
    task = _run(s, start_migration)
    assert task.state == MigrationState.FAILED
    assert task.status_message == "EC2 could not import the image: ClientError: Unknown OS / Missing OS files."
    assert_no_leftovers(s, task)


def test_aws_import_limit_keeps_the_job_waiting_not_failed(setup, start_migration, settings):
    s = setup
    s.aws.configure(import_limit=0)
    settings.MIGRATION_TICK_BUDGET_SECONDS = 1
    response = start_migration(s, s.alice, "web01")
    task_id = response.json()["id"]
    for _ in range(5):
        run_tick(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.CONVERTING and not task.import_task_id
    assert "AWS" in task.status_message and "limit" in task.status_message
    s.aws.configure(import_limit=5)
    s.aws.set_speed(500)
    settings.MIGRATION_TICK_BUDGET_SECONDS = 60
    for _ in range(5):
        run_tick(task_id)
    assert MigrationTask.objects.get(pk=task_id).state == MigrationState.COMPLETED


def test_start_an_imported_instance(setup, start_migration, api):
    s = setup
    s.aws.set_speed(500)
    task = _run(s, start_migration)
    from environments.models import ImportedInstance

    instance = ImportedInstance.objects.get(instance_id=task.instance_id)
    response = api.as_user(s.alice).post(reverse("api:instance-start", kwargs={"pk": instance.pk}))
    assert response.status_code == 200
    assert response.json()["state"] in ("pending", "running")
    listed = api.as_user(s.alice).get(reverse("api:migration-list")).json()["results"]
    assert [m["instance_id"] for m in listed] == [task.instance_id]


def test_revoking_the_grant_stops_a_running_migration_at_its_next_step(setup, start_migration, monkeypatch):
    from environments.services import environment_revoke
    from migrations_app.pipeline import MigrationRunner as Runner

    s = setup
    s.aws.set_speed(0)  # the import waits for the clock, so the job is between steps when the grant goes
    real_convert = Runner.convert
    revoked = []

    def convert_then_revoke(runner, task):
        result = real_convert(runner, task)
        if not revoked:
            revoked.append(environment_revoke(actor=s.admin, environment=s.environment, principal=s.alice))
        return result

    monkeypatch.setattr(Runner, "convert", convert_then_revoke)
    task = _run(s, start_migration)
    assert task.state == MigrationState.FAILED and task.error_code == "authz_revoked"
    assert "no longer may migrate" in task.status_message
    assert_no_leftovers(s, task)


def test_deactivating_the_user_stops_their_queued_work_when_it_starts(setup, start_migration, settings):
    s = setup
    settings.MIGRATION_MAX_ACTIVE_PER_REGION = 0
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    s.alice.is_active = False
    s.alice.save()
    settings.MIGRATION_MAX_ACTIVE_PER_REGION = 4
    from tests.jobs_engine.drive import migration_admit

    migration_admit(region_id=s.region.pk)
    run_tick(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.FAILED and task.error_code == "authz_revoked"
