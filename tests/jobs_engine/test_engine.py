"""The engine's promises for every kind, on the world's jobs: a worker that lost its lease destroys nothing (its
failure cleanup and its cancel are fenced), and a throttle that outlasted the SDK's own retries is retried from the
checkpoint instead of failing the job and releasing what it holds."""

import pytest
from django.utils import timezone

from core.jobs import lease
from core.jobs.heartbeat import Heartbeat
from core.jobs.kinds import kind
from core.jobs.lease import LeaseLost
from core.jobs.runner import run_tick
from adapters.aws import client as aws

# The kind, the world's job of it, the state a worker drives it in, and every AWS call that destroys something
# of the kind's (what a stale worker's cleanup would have called).
KINDS = {
    "export": ("export", "exporting", ("instance_export_cancel", "objects_delete_under")),
    "backup": ("backup", "creating", ("image_delete",)),
    "launch": ("launch", "launching", ("instance_terminate",)),
}
# The first AWS read of each kind's step, where the injected throttle lands.
FIRST_READS = {"export": ("instance_export_find", "instance_export_describe"),
               "backup": ("image_find_by_tag", "image_describe"),
               "launch": ("instance_find_by_tag", "instance_describe")}
# What a kind's release reads before it destroys anything (a read is harmless to the new owner; it answers
# "nothing found" here).
RELEASE_READS = {"export": ("instance_export_find",), "backup": ("image_find_by_tag", "image_describe"),
                 "launch": ()}
RUNNER_MODULES = {"export": "exports.pipeline", "backup": "lifecycle.backups.worker",
                  "launch": "lifecycle.launches.worker"}


def _running(world, name):
    attr, state, _ = KINDS[name]
    job = getattr(world.a, attr)
    kind(name).model.objects.filter(pk=job.pk).update(state=state, lease_epoch=0, lease_owner="",
                                                      lease_expires_at=None, attempts=0)
    return kind(name), job.pk


def _no_credentials_needed(monkeypatch, name):
    # The world's tenant has no AWS account: the calls below are replaced, so any credentials will do.
    monkeypatch.setattr(f"{RUNNER_MODULES[name]}.aws_credentials", lambda tenant: object())


@pytest.mark.parametrize("name", list(KINDS))
def test_a_stale_worker_destroys_nothing(world, monkeypatch, name):
    job_kind, job_id = _running(world, name)
    _no_credentials_needed(monkeypatch, name)
    destroyed = []
    for function in KINDS[name][2]:
        monkeypatch.setattr(aws, function, lambda *args, f=function, **kwargs: destroyed.append(f))
    for function in RELEASE_READS[name]:
        monkeypatch.setattr(aws, function, lambda *args, **kwargs: None)
    stale = lease.claim(job_kind, job_id=job_id, owner="stale", ttl_seconds=60)
    # Its lease ran out (one slow AWS call), and a second worker took the job over.
    job_kind.model.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert lease.claim(job_kind, job_id=job_id, owner="new owner", ttl_seconds=60) == stale + 1
    runner = job_kind.runner_class()(job_kind, job_id, stale, Heartbeat(job_kind, job_id, stale))
    job = runner.job()
    job.export_task_id = getattr(job, "export_task_id", "") or "export-i-0123456789abcdef0"
    with pytest.raises(LeaseLost):
        runner.fail(job, "aws_InternalError", "AWS: the stale worker's last call failed")
    if job_kind.cancelling:
        with pytest.raises(LeaseLost):
            runner.steps()[job_kind.cancelling](job)
    assert destroyed == []
    row = job_kind.model.objects.get(pk=job_id)
    assert row.state == KINDS[name][1] and row.lease_owner == "new owner" and row.error_code == ""


@pytest.mark.parametrize("name", list(KINDS))
def test_a_single_throttle_is_retried(transactional_db, world, monkeypatch, settings, name):
    settings.JOB_RETRY_BASE_SECONDS = settings.ENVIRONMENT_JOB_RETRY_BASE_SECONDS = 60
    job_kind, job_id = _running(world, name)
    _no_credentials_needed(monkeypatch, name)
    destroyed = []
    for function in KINDS[name][2]:
        monkeypatch.setattr(aws, function, lambda *args, f=function, **kwargs: destroyed.append(f))

    def throttled(*args, **kwargs):
        raise aws.AwsError("RequestLimitExceeded", "Request limit exceeded.")

    for function in FIRST_READS[name]:
        monkeypatch.setattr(aws, function, throttled)
    assert run_tick(job_kind, job_id) == "retrying"
    row = job_kind.model.objects.get(pk=job_id)
    assert row.state == KINDS[name][1] and row.error_code == "" and row.attempts == 1
    assert row.wake_at is not None and row.wake_at > timezone.now()
    assert row.status_message.startswith("AWS is throttling (RequestLimitExceeded); retrying from the checkpoint")
    assert destroyed == []
