"""A migration whose vCenter side runs on the tenant's connector agent: its own process under `env -i`, with only
its config file (no DATABASE_URL, SECRET_KEY, encryption or AWS keys), calling the portal over HTTP and sending the
disks to S3 through presigned part URLs; the portal's workers import and launch."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.connectors import services as agent_services
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import run_tick

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process]
ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("completed", "failed", "cancelled")


def _connector(*args, config, env=None):
    return subprocess.run([sys.executable, "-m", "connector", "--config", str(config), *args], cwd=ROOT,
                          env=env or {}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def registered_agent(setup, live_server, tmp_path, settings):
    """The tenant's agent, registered with a one-time code and given the sandbox vCenter, as an operator does."""
    settings.AGENT_HEARTBEAT_SECONDS = 1
    settings.AGENT_STATUS_SECONDS = 0.5
    settings.AGENT_WORK_WAIT_SECONDS = 2
    agent, code = agent_services.agent_create(actor=setup.admin, name="dc-one")
    config = tmp_path / "agent" / "config.json"
    registered = _connector("register", "--portal", live_server.url, "--code", code, config=config)
    assert registered.returncode == 0, registered.stderr
    vcenter = setup.vcenter
    configured = _connector("vcenter", "--url", vcenter.url, "--user", vcenter.username, config=config,
                            env={"CONNECTOR_VCENTER_PASSWORD": vcenter.password})
    assert configured.returncode == 0, configured.stderr
    return agent, config


class RunningAgent:
    def __init__(self, config: Path):
        self.process = subprocess.Popen([sys.executable, "-m", "connector", "--config", str(config), "run"],
                                        cwd=ROOT, env={}, stderr=subprocess.PIPE, text=True)

    def stop(self) -> list[dict]:
        if self.process.poll() is None:
            self.process.kill()
        stderr = self.process.communicate(timeout=30)[1]
        return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def drive_until_done(task_id: int, timeout: float = 180) -> MigrationTask:
    """The portal's side, as its workers run it, while the agent does its part in its own process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_tick(task_id)
        task = MigrationTask.objects.get(pk=task_id)
        if task.state in TERMINAL:
            return task
        time.sleep(0.2)
    raise AssertionError(f"migration {task_id} did not finish: {MigrationTask.objects.get(pk=task_id).state}")


def test_a_migration_completes_through_the_agent_with_nothing_but_its_config(setup, registered_agent,
                                                                             start_migration):
    s = setup
    s.aws.set_speed(200)
    _, config = registered_agent
    assert "secret_access_key" not in config.read_text() and "sandbox-secret" not in config.read_text()
    running = RunningAgent(config)
    try:
        environ = Path(f"/proc/{running.process.pid}/environ").read_bytes()
        assert environ == b""  # env -i: nothing of the portal's (or AWS's) reaches the agent
        response = start_migration(s, s.alice, "db01")
        assert response.status_code == 201, response.content
        task = drive_until_done(response.json()["id"])
    finally:
        lines = running.stop()
    assert task.state == "completed", task.status_message
    assert task.bytes_uploaded == task.bytes_total > 32 * 1024 * 1024
    assert all(d["done"] and d["stream_bytes"] > 0 for d in task.disks)
    assert [lease["state"] for lease in s.vcenter.leases()] == ["done"]
    assert {"job taken"} <= {line["message"] for line in lines}
    s3 = s.aws.client("s3")
    assert s3.list_objects_v2(Bucket=task.s3_bucket).get("KeyCount", 0) == 0  # staged disks removed after launch


def test_a_migration_waits_for_an_offline_connector_and_is_never_failed(setup, registered_agent, start_migration):
    from django.utils import timezone

    from core.connectors.models import Agent

    s = setup
    agent, _ = registered_agent
    last_seen = timezone.now() - timezone.timedelta(minutes=10)
    Agent.objects.filter(pk=agent.pk).update(last_contact_at=last_seen)
    response = start_migration(s, s.alice, "db01")
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    for _ in range(3):
        assert run_tick(task_id) == "waiting"
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == "exporting", task.status_message
    assert task.status_message.startswith(f"Connector offline since {timezone.localtime(last_seen):%Y-%m-%d %H:%M}")
    assert not task.lease_owner and task.attempts == 0  # nothing held, nothing counted against it
    assert s.vcenter.leases() == []  # the portal did not export it itself
