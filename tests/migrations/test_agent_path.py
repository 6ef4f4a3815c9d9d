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
from tests.migrations.helpers import wait_for

pytestmark = [pytest.mark.aws, pytest.mark.vcenter, pytest.mark.process]
ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def in_process_agent():
    return False  # the agent here is its own process


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
    # The agent's first report of its vCenter (a running agent makes it at once): the portal checks a new
    # migration's VM and the user's export privilege against it, never against vCenter itself.
    reported = _connector("inventory", config=config)
    assert reported.returncode == 0, reported.stderr
    return agent, config


class RunningAgent:
    """`python -m connector run` with an empty environment; its JSON log lines are collected as they come."""

    def __init__(self, config: Path):
        import threading

        self.process = subprocess.Popen([sys.executable, "-m", "connector", "--config", str(config), "run"],
                                        cwd=ROOT, env={}, stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stderr:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def stop(self) -> list[dict]:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        return self.lines


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


@pytest.mark.parametrize("connector", ["offline", "revoked"])
def test_a_migration_waits_for_its_connector_says_why_and_is_never_exported_by_the_platform(
        setup, start_migration, registered_agent, connector):
    """One path: while no agent of the tenant works (offline, or its only one revoked since the migration was
    queued), the migration waits, is never failed for it, and the platform's workers never export it themselves.
    A new migration then is refused at once: without a connector nothing can check it."""
    from django.utils import timezone

    from core.connectors.models import Agent

    s = setup
    agent, _ = registered_agent
    response = start_migration(s, s.alice, "db01")
    assert response.status_code == 201, response.content
    task_id = response.json()["id"]
    if connector == "offline":
        last_seen = timezone.now() - timezone.timedelta(minutes=10)
        Agent.objects.filter(pk=agent.pk).update(last_contact_at=last_seen)
        expected = f"Connector offline since {timezone.localtime(last_seen):%Y-%m-%d %H:%M}"
    else:
        Agent.objects.filter(pk=agent.pk).update(revoked_at=timezone.now())
        expected = "No connector is registered for this organisation"
        refused = start_migration(s, s.alice, "web01")
        assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "no_connector"
    for _ in range(3):
        assert run_tick(task_id) == "waiting"
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == "exporting" and task.bytes_exported == 0, task.status_message
    assert task.status_message.startswith(expected)
    assert not task.lease_owner and task.attempts == 0  # nothing held, nothing counted against it
    assert s.vcenter.leases() == []


class CuttableProxy:
    """A TCP relay between the agent and the portal that the test can cut, as a network cut or a portal restart
    would: while cut, open connections are dropped and new ones are closed at once."""

    def __init__(self, upstream_port: int):
        import socket
        import threading

        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.is_cut = threading.Event()
        self.open: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.is_cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass

    def cut(self):
        self.is_cut.set()
        for connection in self.open:
            try:
                connection.close()
            except OSError:
                pass
        self.open = []

    def restore(self):
        self.is_cut.clear()


def _behind_a_proxy(live_server, config: Path) -> CuttableProxy:
    """The agent reaches the portal through a relay the test can cut."""
    proxy = CuttableProxy(int(live_server.url.rsplit(":", 1)[1]))
    _through(proxy, config)
    return proxy


def _through(proxy: CuttableProxy, config: Path) -> None:
    saved = json.loads(config.read_text())
    saved["portal_url"] = f"http://127.0.0.1:{proxy.port}"
    config.write_text(json.dumps(saved))


def _second_agent(setup, live_server, tmp_path) -> Path:
    _, code = agent_services.agent_create(actor=setup.admin, name="dc-two")
    config = tmp_path / "second" / "config.json"
    assert _connector("register", "--portal", live_server.url, "--code", code, config=config).returncode == 0
    vcenter = setup.vcenter
    assert _connector("vcenter", "--url", vcenter.url, "--user", vcenter.username, config=config,
                      env={"CONNECTOR_VCENTER_PASSWORD": vcenter.password}).returncode == 0
    return config


def _parts_in_s3(s, task) -> int:
    disk = task.disks[0]
    listed = s.aws.client("s3").list_parts(Bucket=task.s3_bucket, Key=disk["s3_key"], UploadId=disk["upload_id"])
    return len(listed.get("Parts", []))


@pytest.mark.parametrize("resumed_by", ["the same agent restarted", "the tenant's second agent"])
def test_kill_9_of_the_agent_mid_disk_resumes_from_the_parts_in_s3(setup, registered_agent, start_migration,
                                                                   settings, live_server, tmp_path, resumed_by):
    s = setup
    settings.MIGRATION_UPLOAD_CONCURRENCY = 1  # one part in flight: at most that one is sent again
    s.vcenter.set_faults(nfc_bytes_per_second=3 * 1024 * 1024)
    _, config = registered_agent
    second = _second_agent(s, live_server, tmp_path) if resumed_by.startswith("the tenant") else config
    first = RunningAgent(config)
    try:
        task_id = start_migration(s, s.alice, "db01").json()["id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            task = MigrationTask.objects.get(pk=task_id)
            if task.state == "uploading" and task.disks[0]["upload_id"] and _parts_in_s3(s, task) >= 2:
                break
            time.sleep(0.1)
        first.process.kill()  # SIGKILL: no goodbye, the job's lease simply stops being renewed
    finally:
        first.stop()
    held = _parts_in_s3(s, MigrationTask.objects.get(pk=task_id))
    assert held >= 2
    s.vcenter.clear_faults()
    s.aws.set_speed(200)
    again = RunningAgent(second)
    try:
        task = drive_until_done(task_id)
    finally:
        again.stop()
    assert task.state == "completed", task.status_message
    # Every part S3 held was checked against the disk read again (CRC32) and skipped: only the part in flight at
    # the kill (at most one) was sent again.
    assert task.disks[0]["parts_resumed"] >= held
    assert [lease["state"] for lease in s.vcenter.leases()].count("done") == 1


def test_a_portal_restart_during_a_transfer_does_not_fail_the_job(setup, registered_agent, start_migration,
                                                                  live_server):
    s = setup
    s.vcenter.set_faults(nfc_bytes_per_second=4 * 1024 * 1024)
    s.aws.set_speed(200)
    _, config = registered_agent
    proxy = _behind_a_proxy(live_server, config)
    running = RunningAgent(config)
    try:
        task_id = start_migration(s, s.alice, "db01").json()["id"]
        wait_for(lambda: MigrationTask.objects.get(pk=task_id).bytes_uploaded >= 5 * 1024 * 1024, timeout=90,
                 what="a part uploaded")
        proxy.cut()  # the portal is away for a second: shorter than the job's lease (3 s here)
        time.sleep(1)
        proxy.restore()
        s.vcenter.clear_faults()
        task = drive_until_done(task_id)
    finally:
        lines = running.stop()
    assert task.state == "completed", task.status_message
    assert task.attempts == 0 and task.disks[0].get("parts_resumed", 0) == 0  # carried on, never started over
    assert "job interrupted" not in {line["message"] for line in lines}


def test_a_cut_longer_than_the_lease_stops_the_agent_and_the_job_moves_on(setup, registered_agent, start_migration,
                                                                          live_server, tmp_path):
    s = setup
    s.vcenter.set_faults(nfc_bytes_per_second=4 * 1024 * 1024)
    _, config = registered_agent
    proxy = _behind_a_proxy(live_server, config)
    cut_off = RunningAgent(config)
    try:
        task_id = start_migration(s, s.alice, "db01").json()["id"]
        wait_for(lambda: MigrationTask.objects.get(pk=task_id).bytes_uploaded >= 5 * 1024 * 1024, timeout=90,
                 what="a part uploaded")
        proxy.cut()
        # The lease (3 s) runs out at the portal; the cut-off agent stops sending on its own (it cannot know
        # whether the job was handed on), while its process goes on trying to reach the portal.
        stopped = wait_for(lambda: [line for line in cut_off.lines if line.get("job") == task_id and line["message"]
                                    in ("job interrupted", "job stopped")], timeout=60, what="the agent to stop")
        assert cut_off.process.poll() is None
    finally:
        cut_off.stop()
    assert stopped[0]["message"] == "job stopped" and "longer than the job's lease" in stopped[0]["reason"]
    s.vcenter.clear_faults()
    s.aws.set_speed(200)
    other = RunningAgent(_second_agent(s, live_server, tmp_path))
    try:
        task = drive_until_done(task_id)
    finally:
        other.stop()
    assert task.state == "completed", task.status_message
    # No spliced disk: the parts S3 kept from the cut-off agent were checked (CRC32) against the disk read again,
    # and the object is exactly the stream vCenter gave the second agent.
    final = [lease for lease in s.vcenter.leases() if lease["state"] == "done"]
    assert len(final) == 1 and task.disks[0]["stream_bytes"] == final[0]["disks"][0]["stream_bytes"]
    assert task.disks[0]["parts_resumed"] >= 1
