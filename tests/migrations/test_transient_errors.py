"""Transient errors (S3 throttling, a broken NFC stream, a vCenter session that stays refused) are retried from the
checkpoint after a backoff, keeping the parts already in S3; the attempts are capped and counted as failures, not
claims. A session vCenter ended once is logged in again without a retry. The export and the upload are the tenant's
connector agent's (run in the test, tests.agents.inprocess): a tick that leaves the job waiting for it has the agent
take the job, and the agent's turn ends as `s.agent.outcomes` says."""

import re

import pytest
from django_q.models import Schedule

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from core.jobs import retry
from core.jobs.kinds import kind
from adapters.aws import client as aws
from adapters.vsphere import client as vsphere
from connector import s3 as agent_s3
from tests.jobs_engine.drive import run_tick, wake_schedule_name
from tests.migrations.conftest import assert_no_leftovers

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]

RETRY_NOTE = re.compile(r"retrying from the checkpoint at \d\d:\d\d:\d\d, attempt (\d+) of (\d+)$")


def _drive(task_id, limit=30):
    outcomes = []
    while not MigrationTask.objects.get(pk=task_id).is_terminal:
        outcomes.append(run_tick(task_id))
        assert len(outcomes) < limit, outcomes
    return outcomes


def _agent_turn(s, task_id):
    """A tick that hands the job to the agent: how the agent's turn at it ended."""
    before = len(s.agent.outcomes)
    assert run_tick(task_id) == "waiting"
    turns = s.agent.outcomes[before:]
    assert len(turns) == 1, turns
    return turns[0]


def _uploads(s, task):
    s3 = s.aws.client("s3")
    return [u for u in s3.list_multipart_uploads(Bucket=task.s3_bucket).get("Uploads", [])
            if u["Key"].startswith(f"{task.tenant.slug}/migration-{task.pk}/")]


def test_s3_throttling_is_retried_from_the_checkpoint_keeping_the_parts(setup, start_migration, monkeypatch):
    s = setup
    s.aws.set_speed(500)
    real_put_part = agent_s3.put_part
    calls = []

    def throttle_from_the_third_part(*args, **kwargs):
        # Arms the sandbox's own S3 fault once a few parts were sent; every UploadPart after that (the agent's
        # presigned PUTs) gets SlowDown.
        calls.append(1)
        if len(calls) == 4:
            s.aws.set_faults(s3_error="SlowDown", s3_error_count=-1, s3_error_operations=["UploadPart"])
        return real_put_part(*args, **kwargs)

    monkeypatch.setattr(agent_s3, "put_part", throttle_from_the_third_part)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    assert _agent_turn(s, task_id) == "retrying"
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.UPLOADING and task.attempts == 1 and task.error_code == ""
    assert re.match(r"S3 refused part \d+ \(SlowDown\); retrying from the checkpoint at ", task.status_message), \
        task.status_message
    assert RETRY_NOTE.search(task.status_message).groups() == ("2", "8")
    assert task.wake_at is not None
    assert Schedule.objects.get(name=wake_schedule_name(task_id)).next_run == task.wake_at
    # Nothing was released: the upload and its parts stay for the next attempt.
    uploads = _uploads(s, task)
    assert len(uploads) == 1
    parts = s.aws.client("s3").list_parts(Bucket=task.s3_bucket, Key=uploads[0]["Key"],
                                          UploadId=uploads[0]["UploadId"]).get("Parts", [])
    assert len(parts) >= 1
    assert task.disks[0]["upload_id"] == uploads[0]["UploadId"]
    s.aws.clear_faults()
    _drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED, task.status_message
    assert task.disks[0]["parts_resumed"] == len(parts)  # read past, not sent again
    assert_no_leftovers(s, task)


def test_a_broken_stream_is_retried_until_the_attempts_run_out(setup, start_migration, settings):
    s = setup
    settings.MIGRATION_MAX_ATTEMPTS = 3
    s.vcenter.set_faults(nfc_cut_after_bytes=6 * 1024 * 1024)  # every download breaks
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    assert _agent_turn(s, task_id) == "retrying"
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.UPLOADING and task.attempts == 1
    assert re.match(r"The disk stream from \S+ broke after \d+ bytes; retrying from the checkpoint",
                    task.status_message), task.status_message
    assert RETRY_NOTE.search(task.status_message).groups() == ("2", "3")
    # The VM is not held while the job waits: the agent gave its export lease back.
    assert not [lease for lease in s.vcenter.leases() if lease["state"] in ("initializing", "ready")]
    assert _agent_turn(s, task_id) == "retrying"
    assert RETRY_NOTE.search(MigrationTask.objects.get(pk=task_id).status_message).groups() == ("3", "3")
    # The third failure fails the job at the portal (the agent's `failed/` is answered 409 job_failed, so the
    # agent, which reported a transient trouble, ends its turn as if retrying); the next tick releases the rest.
    _agent_turn(s, task_id)
    assert MigrationTask.objects.get(pk=task_id).state == MigrationState.FAILING
    assert run_tick(task_id) == "failed"
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.FAILED and task.error_code == "connector_vcenter_stream_broken"
    assert task.status_message.endswith("(gave up after 3 attempts)") and "The disk stream" in task.status_message
    s.vcenter.clear_faults()
    assert_no_leftovers(s, task)


def test_an_expired_vcenter_session_is_logged_in_again_without_a_retry(setup, start_migration, monkeypatch):
    """vCenter drops the worker's session mid-step (its own idle timeout): the adapter logs in again and the step
    goes on; no attempt is spent and the export lease is not given up."""
    s = setup
    s.aws.set_speed(500)
    real_wait = vsphere.VCenterSession.lease_wait_ready
    expired = []

    def expire_then_wait(session, lease_moref, timeout=300):
        if not expired:
            expired.append(s.vcenter.expire_sessions())
        return real_wait(session, lease_moref, timeout=timeout)

    monkeypatch.setattr(vsphere.VCenterSession, "lease_wait_ready", expire_then_wait)
    leases_before = {lease["id"] for lease in s.vcenter.leases()}
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    outcomes = _drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert expired[0] >= 1 and "retrying" not in outcomes, outcomes
    assert task.state == MigrationState.COMPLETED and task.attempts == 0, task.status_message
    exports = [lease for lease in s.vcenter.leases() if lease["id"] not in leases_before]
    assert len(exports) == 1, exports  # the one export lease was kept, not abandoned for a new one
    assert_no_leftovers(s, task)


def test_the_migration_request_survives_vcenter_ending_the_session_during_its_checks(setup, api):
    """The request's pre-flight (the VM, the user's privileges on it) answered 502 when vCenter ended the session
    between its calls. The portal now checks a request against the inventory its connector reported, and the
    checks that read vCenter (the VM, the user's export privilege) are the connector's when it takes the job: the
    session ending between them is logged in again, without failing or retrying the job."""
    from django.urls import reverse

    s = setup
    s.aws.set_speed(500)
    client = api.as_user(s.alice)
    vm = s.vms["web01"].moref
    token = client.post(reverse("api:import-tokens"), {"environment": s.environment.pk, "vm": vm}, format="json")
    assert token.status_code == 201, token.content
    s.vcenter.set_faults(session_expire_after_calls=3)  # after the login and the first lookups
    try:
        response = client.post(reverse("api:migration-list"), {
            "token": token.json()["token"], "vm": vm, "environment": s.environment.pk,
            "operating_system": "ubuntu-22.04", "instance_type": "t2.micro", "subnet": s.subnet.pk,
            "security_group": s.security_group.pk}, format="json")
        assert response.status_code == 201, response.content
        assert s.vcenter.get_faults()["session_expire_after_calls"] == 3  # the request itself did not call vCenter
        turn = _agent_turn(s, response.json()["id"])
        fired = s.vcenter.get_faults()["session_expire_after_calls"] is None  # one-shot: cleared once it fired
    finally:
        s.vcenter.clear_faults()
    assert fired, "the session never ended during the connector's checks"
    task = MigrationTask.objects.get(pk=response.json()["id"])
    assert turn == "uploaded" and task.attempts == 0, task.status_message
    assert task.state == MigrationState.CONVERTING, task.status_message


def test_attempts_count_failures_not_ticks(setup, start_migration, settings):
    """A step that spans many ticks (a long conversion) uses no attempts."""
    s = setup
    settings.MIGRATION_INLINE_WAIT_SECONDS = 0  # every poll ends the tick, as in production
    s.aws.set_speed(0)
    task_id = start_migration(s, s.alice, "web01").json()["id"]
    outcomes = [run_tick(task_id) for _ in range(8)]
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.CONVERTING and outcomes[-3:] == ["waiting"] * 3, outcomes
    assert task.attempts == 0


@pytest.mark.parametrize("error, transient", [
    (aws.AwsError("SlowDown", "Please reduce your request rate."), True),
    (aws.AwsError("RequestLimitExceeded", "Request limit exceeded."), True),
    (aws.AwsError("InternalError", "We encountered an internal error."), True),
    (aws.AwsError("ConnectionError", "AWS could not be reached"), True),
    (aws.AwsError("AccessDenied", "Access Denied"), False),
    (aws.AwsError("InvalidParameterValue", "bad"), False),
    (vsphere.VSphereError("stream_broken", "broke", vsphere.UNREACHABLE), True),
    (vsphere.VSphereError("not_authenticated", "ended", vsphere.AUTH), True),
    (vsphere.VSphereError("esx_unreachable", "unreachable", vsphere.UNREACHABLE), True),
    (vsphere.VSphereError("no_permission", "denied", vsphere.AUTH), False),
    (vsphere.VSphereError("vm_not_found", "gone", vsphere.NOT_FOUND), False),
    (vsphere.VSphereError("tls_failed", "tls", vsphere.TLS), False),
    (vsphere.VSphereError("lease_error", "The export lease failed", vsphere.OTHER), False),
])
def test_classification(error, transient):
    assert retry.classify(error).transient is transient


def test_backoff_grows_with_jitter_and_is_capped(settings):
    settings.MIGRATION_RETRY_BASE_SECONDS, settings.MIGRATION_RETRY_MAX_SECONDS = 10, 100
    for failed, step in ((1, 10), (2, 20), (3, 40), (5, 100), (30, 100)):
        delays = {retry.backoff_seconds(kind("migration"), failed) for _ in range(20)}
        assert all(step / 2 <= d <= step for d in delays) and len(delays) > 1


def test_three_transient_errors_in_each_step_do_not_add_up(setup, start_migration, settings, monkeypatch):
    """The attempts are capped per step: 3 transient failures in each of the 4 steps (12 in all) complete under a
    cap of 4, where a cap over the whole job would have failed it at the fourth. The export and the upload are the
    connector's: its vCenter read and its part upload fail; S3 throttling the portal's own call for the agent
    (listing the disk's parts) is waited out inside that call and spends no attempt."""
    s = setup
    s.aws.set_speed(500)
    settings.MIGRATION_MAX_ATTEMPTS = 4
    settings.MIGRATION_RETRY_BASE_SECONDS = settings.MIGRATION_RETRY_MAX_SECONDS = 0.01
    failures = {}

    def flaky(owner, name, error):
        real = getattr(owner, name)

        def call(*args, **kwargs):
            if failures.setdefault(name, 0) < 3:
                failures[name] += 1
                raise error
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, call)

    task_id = start_migration(s, s.alice, "web01").json()["id"]  # its request's checks read the VM unhindered
    flaky(vsphere.VCenterSession, "get_vm", vsphere.VSphereError("unexpected_answer", "odd answer", vsphere.OTHER))
    flaky(aws, "multipart_parts", aws.AwsError("SlowDown", "Please reduce your request rate."))
    real_put_part = agent_s3.put_part

    def put_part(url, headers, body, *, part_number, **kwargs):
        # Only the first part fails, once an attempt: parts in flight beside it are not failures of their own.
        if part_number == 1 and failures.setdefault("put_part", 0) < 3:
            failures["put_part"] += 1
            raise agent_s3.S3Error("SlowDown", "S3 refused part 1 (SlowDown).", 503)
        return real_put_part(url, headers, body, part_number=part_number, **kwargs)

    monkeypatch.setattr(agent_s3, "put_part", put_part)
    flaky(aws, "import_image_describe", aws.AwsError("ServiceUnavailable", "Service unavailable."))
    flaky(aws, "instance_wait_not_pending", aws.AwsError("RequestLimitExceeded", "Request limit exceeded."))
    outcomes = _drive(task_id, limit=60)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED, task.status_message
    assert failures == {"get_vm": 3, "multipart_parts": 3, "put_part": 3, "import_image_describe": 3,
                        "instance_wait_not_pending": 3}
    retried = outcomes.count("retrying") + s.agent.outcomes.count("retrying")
    assert retried == 12, (outcomes, s.agent.outcomes)
    assert_no_leftovers(s, task)
