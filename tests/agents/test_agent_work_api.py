"""How the portal hands migrations to connector agents and what it refuses them: work goes only to the job's own
tenant's agents, each call must name the lease epoch it was handed, and another tenant's job looks exactly like
a missing one."""

import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from connector import protocol
from core.connectors import keys
from core.connectors.models import Agent, AgentNonce
from migrations_app import services as migration_services
from migrations_app import tokens
from migrations_app.models import MigrationTask

WORK = "/api/v1/agent/work/"


class SigningAgent:
    def __init__(self, tenant, name):
        self.key = protocol.new_private_key()
        self.row = Agent.objects.create(tenant=tenant, name=name, public_key=protocol.public_key_text(self.key))

    def post(self, path, payload, *, headers=None):
        body = json.dumps(payload).encode()
        headers = headers or protocol.sign_request(self.key, agent_id=str(self.row.pk), method="POST", path=path,
                                                   body=body)
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        self.last_headers = headers
        return APIClient().generic("POST", path, body, content_type="application/json", **meta)


@pytest.fixture
def exporting(world):
    """Tenant A's migration, admitted and waiting for its connector, with the token its user was issued."""
    task = world.a.migration
    token = tokens.sign(tokens.TokenClaims("jti-1", task.created_by_id, task.tenant_id, task.environment_id,
                                           task.vm_moref, principal="VSPHERE.LOCAL\\general"))
    MigrationTask.objects.filter(pk=task.pk).update(state="exporting", import_token=token)
    return MigrationTask.objects.get(pk=task.pk)


@pytest.fixture
def agents(world):
    return SigningAgent(world.a.tenant, "dc-a"), SigningAgent(world.b.tenant, "dc-b")


def test_work_goes_to_the_jobs_own_tenant_with_a_token_the_agent_can_verify(exporting, agents):
    mine, theirs = agents
    assert theirs.post(WORK, {"wait": 0}).json() == {"jobs": [], "beat": False}
    answer = mine.post(WORK, {"wait": 0})
    assert answer.status_code == 200, answer.content
    [job] = answer.json()["jobs"]
    assert job["job_id"] == exporting.pk and job["vm_moref"] == exporting.vm_moref and job["epoch"] >= 1
    claims = protocol.verify_token(job["token"], keys.public_keys(), run_within_seconds=3600)
    assert claims.vm_moref == exporting.vm_moref and claims.principal == "VSPHERE.LOCAL\\general"
    task = MigrationTask.objects.get(pk=exporting.pk)
    assert task.lease_owner == f"agent:{mine.row.pk}" and task.lease_epoch == job["epoch"]
    assert mine.post(WORK, {"wait": 0}).json() == {"jobs": [], "beat": False}  # held: nobody else is handed it


def test_another_tenants_job_answers_exactly_like_a_missing_one(exporting, agents):
    mine, theirs = agents
    [job] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    path = f"/api/v1/agent/migrations/{job['job_id']}/report/"
    foreign = theirs.post(path, {"epoch": job["epoch"], "bytes_exported": 1})
    missing = theirs.post("/api/v1/agent/migrations/987654/report/", {"epoch": job["epoch"], "bytes_exported": 1})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert MigrationTask.objects.get(pk=exporting.pk).bytes_exported == 0


def test_a_stale_epoch_and_a_replayed_request_are_refused(exporting, agents):
    mine, _ = agents
    [old] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    # The lease ran out (the agent was cut off) and the job was handed out again, under a new epoch.
    MigrationTask.objects.filter(pk=exporting.pk).update(lease_expires_at=timezone.now())
    [job] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    assert job["epoch"] == old["epoch"] + 1
    path = f"/api/v1/agent/migrations/{job['job_id']}/report/"
    stale = mine.post(path, {"epoch": old["epoch"], "bytes_exported": 5})
    assert stale.status_code == 409 and stale.json()["errors"][0]["code"] == "lease_lost"
    assert mine.post(path, {"epoch": job["epoch"], "bytes_exported": 5}).status_code == 204
    replay = mine.post(path, {"epoch": job["epoch"], "bytes_exported": 5}, headers=mine.last_headers)
    assert replay.status_code == 401
    assert MigrationTask.objects.get(pk=exporting.pk).bytes_exported == 5


def test_a_cancel_stops_the_agent_and_gives_the_lease_back_at_once(exporting, agents, world):
    mine, _ = agents
    [job] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    migration_services.migration_cancel(actor=world.a.user_general, task=MigrationTask.objects.get(pk=exporting.pk))
    answer = mine.post(f"/api/v1/agent/migrations/{job['job_id']}/report/", {"epoch": job["epoch"]})
    assert answer.status_code == 409 and answer.json()["errors"][0]["code"] == "lease_lost"
    task = MigrationTask.objects.get(pk=exporting.pk)
    assert task.state == "cancelling" and task.lease_owner == "" and task.lease_expires_at is None


def test_a_revoked_grant_keeps_the_job_from_the_agent(exporting, agents, world):
    from environments import services as env_services

    mine, _ = agents
    env_services.environment_revoke(actor=world.a.admin, environment=world.a.environment,
                                    principal=world.a.user_general)
    assert mine.post(WORK, {"wait": 0}).json() == {"jobs": [], "beat": False}
    assert MigrationTask.objects.get(pk=exporting.pk).lease_owner == ""


def test_the_agent_reports_failures_transient_ones_retried_from_the_checkpoint(exporting, agents):
    mine, _ = agents
    [job] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    failed = f"/api/v1/agent/migrations/{job['job_id']}/failed/"
    answer = mine.post(failed, {"epoch": job["epoch"], "code": "vcenter_unreachable", "transient": True,
                                "message": "vCenter could not be reached."})
    assert answer.status_code == 204, answer.content
    task = MigrationTask.objects.get(pk=exporting.pk)
    assert task.state == "exporting" and task.attempts == 1 and task.wake_at > timezone.now()
    assert "retrying from the checkpoint" in task.status_message and task.lease_owner == ""
    assert mine.post(WORK, {"wait": 0}).json() == {"jobs": [], "beat": False}  # not before its backoff
    MigrationTask.objects.filter(pk=exporting.pk).update(wake_at=timezone.now())
    [again] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    assert again["epoch"] == job["epoch"] + 1
    final = mine.post(f"/api/v1/agent/migrations/{again['job_id']}/failed/", {
        "epoch": again["epoch"], "code": "token_bad_signature", "transient": False,
        "message": "The connector refused the job: The migration token is not valid."})
    assert final.status_code == 409 and final.json()["errors"][0]["code"] == "job_failed"
    task = MigrationTask.objects.get(pk=exporting.pk)
    assert task.state == "failing" and task.error_code == "connector_token_bad_signature"


def _uploading_the_second_of_two_disks(mine, exporting, *, counted: int) -> tuple[dict, str]:
    """The job handed to `mine`, its first disk (300 bytes) in S3, its second (700) under way, `counted` bytes
    counted so far; the handout and the job's report path."""
    [job] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    disks = [{"device_key": "2000", "size": 300, "s3_key": "a", "upload_id": "u1", "part_size": 0, "done": True},
             {"device_key": "2001", "size": 700, "s3_key": "b", "upload_id": "u2", "part_size": 0, "done": False}]
    MigrationTask.objects.filter(pk=exporting.pk).update(state="uploading", disks=disks, bytes_total=1000,
                                                         bytes_uploaded=counted, bytes_exported=counted)
    return job, f"/api/v1/agent/migrations/{job['job_id']}/report/"


def test_a_late_report_cannot_take_back_the_bytes_of_disks_already_in_s3(exporting, agents):
    """The agent's beat reports beside its data path: a report read before the last disk was done arrives after
    it, and the job's progress must not go back below what S3 already holds."""
    mine, _ = agents
    job, path = _uploading_the_second_of_two_disks(mine, exporting, counted=300)
    assert mine.post(path, {"epoch": job["epoch"], "bytes_exported": 120, "bytes_uploaded": 100}).status_code == 204
    task = MigrationTask.objects.get(pk=exporting.pk)
    assert (task.bytes_exported, task.bytes_uploaded) == (300, 300)
    assert mine.post(path, {"epoch": job["epoch"], "bytes_exported": 650, "bytes_uploaded": 5000}).status_code == 204
    task = MigrationTask.objects.get(pk=exporting.pk)
    assert (task.bytes_exported, task.bytes_uploaded) == (650, 1000)  # never past the total either


def test_a_report_that_read_the_job_before_its_last_disk_was_done_does_not_take_the_bytes_back(
        exporting, agents, monkeypatch):
    """The interleaving CI met: the beat's report reads the job, the data path's `done` of the last disk writes the
    whole count, then the report writes what it read before; the completed job then showed 36 of 56 MiB uploaded."""
    from migrations_app import agent_work

    mine, _ = agents
    job, path = _uploading_the_second_of_two_disks(mine, exporting, counted=600)
    renew = agent_work._Held.renew

    def done_meanwhile(held):
        renew(held)
        disks = MigrationTask.objects.get(pk=exporting.pk).disks
        MigrationTask.objects.filter(pk=exporting.pk).update(
            disks=[disks[0], {**disks[1], "done": True}], bytes_uploaded=1000, bytes_exported=1000)

    monkeypatch.setattr(agent_work._Held, "renew", done_meanwhile)
    assert mine.post(path, {"epoch": job["epoch"], "bytes_exported": 700, "bytes_uploaded": 650}).status_code == 204
    task = MigrationTask.objects.get(pk=exporting.pk)
    assert (task.bytes_exported, task.bytes_uploaded) == (1000, 1000)


def test_a_presign_writes_nothing_signs_with_the_accounts_current_keys_and_refuses_a_lease_handed_on(
        exporting, agents, world):
    """A presign is asked for every part, so it writes nothing (the agent's beat renews the lease) and keeps the
    tenant's credentials between calls; yet a changed account signs the next URL, another tenant's agent gets a
    404, and an epoch handed on gets lease_lost."""
    from core.models import TenantAwsAccount

    mine, theirs = agents
    account = TenantAwsAccount.objects.create(tenant=world.a.tenant, access_key_id="AKIAFIRSTKEY00000001",
                                              secret_access_key="first-secret")
    TenantAwsAccount.objects.create(tenant=world.b.tenant, access_key_id="AKIAOTHERTENANT00001",
                                    secret_access_key="other-secret")
    [job] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    disks = [{"device_key": "2000", "size": 1000, "s3_key": "disk-1", "upload_id": "u1", "part_size": 0,
              "done": False}]
    MigrationTask.objects.filter(pk=exporting.pk).update(state="uploading", disks=disks, bytes_total=1000,
                                                         s3_bucket="staging-a")
    lease = ("lease_expires_at", "heartbeat_at", "lease_epoch", "updated_at")
    before = MigrationTask.objects.values_list(*lease).get(pk=exporting.pk)
    path = f"/api/v1/agent/migrations/{job['job_id']}/disks/0/presign/"
    ask = {"epoch": job["epoch"], "upload_id": "u1", "parts": [{"part_number": 1, "crc32": 7},
                                                               {"part_number": 2, "crc32": 8}]}

    first = mine.post(path, ask)
    assert first.status_code == 200, first.content
    assert [p["part_number"] for p in first.json()["parts"]] == [1, 2]
    assert all("AKIAFIRSTKEY00000001" in p["url"] for p in first.json()["parts"])
    assert MigrationTask.objects.values_list(*lease).get(pk=exporting.pk) == before

    account.access_key_id, account.secret_access_key = "AKIASECONDKEY0000002", "second-secret"
    account.save()
    again = mine.post(path, ask)
    assert again.status_code == 200 and "AKIASECONDKEY0000002" in again.json()["parts"][0]["url"]

    foreign = theirs.post(path, ask)
    missing = theirs.post("/api/v1/agent/migrations/987654/disks/0/presign/", ask)
    assert foreign.status_code == missing.status_code == 404 and foreign.json() == missing.json()

    # The lease ran out (the agent was cut off) and the job was handed out again, under a new epoch.
    MigrationTask.objects.filter(pk=exporting.pk).update(lease_expires_at=timezone.now())
    [handed_on] = mine.post(WORK, {"wait": 0}).json()["jobs"]
    assert handed_on["epoch"] == job["epoch"] + 1
    stale = mine.post(path, ask)
    assert stale.status_code == 409 and stale.json()["errors"][0]["code"] == "lease_lost"


def test_a_request_for_work_keeps_the_agents_address_current_without_a_heartbeat(world):
    """An agent whose request for work is held seldom sends a heartbeat (which records its address): the request
    records it when it changed, even while the recorded contact is fresh enough not to be written again."""
    from core.connectors import services as agent_services

    agent = SigningAgent(world.a.tenant, "dc-moved")
    recent = timezone.now() - timezone.timedelta(seconds=5)
    Agent.objects.filter(pk=agent.row.pk).update(address="192.0.2.7", last_contact_at=recent)
    assert agent.post(WORK, {"wait": 0}).status_code == 200
    assert Agent.objects.get(pk=agent.row.pk).address == "127.0.0.1"  # the test client's address

    row = Agent.objects.get(pk=agent.row.pk)
    agent_services.agent_seen(agent=row, fresh_seconds=60, address="127.0.0.1")
    assert Agent.objects.get(pk=row.pk).last_contact_at == row.last_contact_at  # fresh, same address: no write
    agent_services.agent_seen(agent=row, fresh_seconds=60, address="198.51.100.9")
    assert Agent.objects.get(pk=row.pk).address == "198.51.100.9"


def test_saving_where_vcenter_is_asks_the_agents_for_a_fresh_inventory_and_a_limit_does_not(world):
    """Changed vCenter settings reach the agents with their next heartbeat, which the pending request rings for; the
    inventory they reported may be another vCenter's, so a fresh one is asked for. A change the agents are not told
    of asks for nothing."""
    from core import services as core_services
    from core.connectors.models import VCenterInventory

    SigningAgent(world.a.tenant, "dc-settings")

    def pending():
        return VCenterInventory.objects.filter(tenant=world.a.tenant, refresh_requested_at__isnull=False).exists()

    core_services.vcenter_update(actor=world.a.admin, data={"url": "https://10.20.30.40/sdk"})
    assert pending()
    VCenterInventory.objects.filter(tenant=world.a.tenant).update(refresh_requested_at=None)  # an agent answered
    core_services.vcenter_update(actor=world.a.admin, data={"max_active_migrations_per_region": 2})
    assert not pending()
    core_services.vcenter_update(actor=world.a.admin, data={"thumbprint": "AB:" * 19 + "CD"})
    assert pending()


def test_a_malformed_request_for_work_is_refused_naming_the_field(agents):
    mine, _ = agents
    for bad, field in (({"wait": "soon"}, "wait"), ({"wait": 601}, "wait"), ({"keys": "k" * 65}, "keys")):
        answer = mine.post(WORK, bad)
        assert answer.status_code == 400, (bad, answer.content)
        assert answer.json()["errors"][0]["attr"] == field
    listed = mine.post(WORK, [{"wait": 1}])
    assert listed.status_code == 400 and listed.json()["errors"][0]["code"] == "invalid"
    # One instance validates every request: an error leaves nothing behind for the next one.
    assert mine.post(WORK, {"wait": 0}).json() == {"jobs": [], "beat": False}


def test_a_forged_request_uses_up_nothing_and_the_genuine_one_with_its_nonce_is_taken(agents):
    """On PostgreSQL the nonce is recorded with the agent's lookup, before the signature is checked: a request
    signed with another key must leave the nonce as it found it."""
    mine, _ = agents
    body = json.dumps({"wait": 0}).encode()
    genuine = protocol.sign_request(mine.key, agent_id=str(mine.row.pk), method="POST", path=WORK, body=body)
    signed_text = protocol.request_string(method="POST", path=WORK, at=genuine[protocol.HEADER_TIME],
                                          nonce=genuine[protocol.HEADER_NONCE], body=body)
    forged = {**genuine, protocol.HEADER_SIGNATURE: protocol.b64encode(protocol.new_private_key().sign(signed_text))}
    refused = mine.post(WORK, {"wait": 0}, headers=forged)
    assert refused.status_code == 401 and "not recognised" in refused.content.decode()
    assert not AgentNonce.objects.filter(agent=mine.row).exists()
    assert mine.post(WORK, {"wait": 0}, headers=genuine).json() == {"jobs": [], "beat": False}
    replayed = mine.post(WORK, {"wait": 0}, headers=genuine)
    assert replayed.status_code == 401 and "already received" in replayed.content.decode()
    assert AgentNonce.objects.filter(agent=mine.row, nonce=genuine[protocol.HEADER_NONCE]).count() == 1
