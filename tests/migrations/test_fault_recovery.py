"""Faults the sandbox peers inject (not mocks): an NFC connection reset mid-disk, an S3 503 burst, EC2 throttling and
a vCenter session expiry. Each migration still completes, and re-sends at most one part per fault: what S3 already
holds is read past, not sent again. The disks are exported and sent by the tenant's connector agent (run in the
test): its part uploads (`connector.s3.put_part`) are the ones counted, and its turns' outcomes count with the
ticks'."""

import threading
import urllib.parse

import pytest

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from connector import s3 as agent_s3
from tests.jobs_engine.drive import run_tick
from tests.migrations.conftest import assert_no_leftovers

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]

MIB = 1024 * 1024

FAULTS = {
    # The ESX host resets the connection once, 6 MiB into the first download (past the first 5 MiB part).
    "nfc_reset": lambda s: s.vcenter.set_faults(nfc_cut_after_bytes=6 * MIB, nfc_cut_count=1, nfc_cut_reset=True),
    # S3 answers 503 SlowDown to the next four part uploads.
    "s3_503_burst": lambda s: s.aws.set_faults(s3_error="SlowDown", s3_error_count=4,
                                               s3_error_operations=["UploadPart"]),
    # EC2 throttles the next four conversion polls.
    "ec2_throttle": lambda s: s.aws.set_faults(ec2_throttle=True, ec2_throttle_count=4,
                                               ec2_throttle_actions=["DescribeImportImageTasks"]),
    # vCenter drops the agent's session after a few calls (its own idle timeout, say).
    "session_expiry": lambda s: s.vcenter.set_faults(session_expire_after_calls=6),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_is_survived_resending_at_most_one_part_per_fault(setup, start_migration, settings, monkeypatch,
                                                                 fault):
    s = setup
    settings.MIGRATION_RETRY_BASE_SECONDS = 0.1
    settings.MIGRATION_RETRY_MAX_SECONDS = 0.2
    s.aws.set_speed(500)
    sent = []
    lock = threading.Lock()  # the agent sends parts from several threads
    real_put_part = agent_s3.put_part

    def counted(url, *args, part_number, **kwargs):
        with lock:
            sent.append((urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["uploadId"][0], part_number))
        return real_put_part(url, *args, part_number=part_number, **kwargs)

    monkeypatch.setattr(agent_s3, "put_part", counted)  # counts; the sandbox does the failing
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    injected_before = s.aws.faults()["injected"]
    FAULTS[fault](s)  # armed for the agent, after the request's own checks
    outcomes = []
    while not MigrationTask.objects.get(pk=task_id).is_terminal:
        outcomes.append(run_tick(task_id))
        assert len(outcomes) < 40, outcomes
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED, task.status_message
    outcomes += s.agent.outcomes  # the ticks' and the agent's turns': a retry is either's
    injected_after = s.aws.faults()["injected"]
    s3_hits = injected_after.get("s3", 0) - injected_before.get("s3", 0)
    ec2_hits = injected_after.get("ec2", 0) - injected_before.get("ec2", 0)
    faults = {"nfc_reset": 1, "session_expiry": 1, "s3_503_burst": s3_hits, "ec2_throttle": ec2_hits}[fault]
    assert faults >= 1, "the fault never fired"
    if fault == "nfc_reset":  # no SDK retry absorbs it: the job itself retried
        assert outcomes.count("retrying") == 1, outcomes
    if fault == "session_expiry":  # the adapter logged in again: no retry at all
        assert task.attempts == 0 and "retrying" not in outcomes, (task.attempts, outcomes)
    # Parts re-sent: the agent's repeats of a part. It has no SDK retrying beneath it: a send S3 refused was
    # counted above, and its repeat is one of these.
    assert sent
    resent = len(sent) - len(set(sent))
    assert resent <= faults, (fault, resent, faults, outcomes)
    assert task.disks and all(d["done"] for d in task.disks)
    s.vcenter.clear_faults()
    s.aws.clear_faults()
    assert_no_leftovers(s, task)
