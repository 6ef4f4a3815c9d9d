"""Running portal code in other processes against the test database (workers, concurrent submitters)."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": test_database_url(),
        "AWS_ENDPOINT_URL": settings.AWS_ENDPOINT_URL or "",
        "MIGRATION_LEASE_SECONDS": str(settings.MIGRATION_LEASE_SECONDS),
        "MIGRATION_POLL_SECONDS": str(settings.MIGRATION_POLL_SECONDS),
        "MIGRATION_INLINE_WAIT_SECONDS": str(settings.MIGRATION_INLINE_WAIT_SECONDS),
        "MIGRATION_TICK_BUDGET_SECONDS": str(settings.MIGRATION_TICK_BUDGET_SECONDS),
        "MIGRATION_PART_SIZE": str(settings.MIGRATION_PART_SIZE),
        # The test process's outbound allowance (tests/conftest.py: the sandbox on http://127.0.0.1), so that
        # workers may reach the same peers.
        "OUTBOUND_ALLOW_HTTP": "true" if settings.OUTBOUND_ALLOW_HTTP else "false",
        "OUTBOUND_ALLOWED_CIDRS": ",".join(settings.OUTBOUND_ALLOWED_CIDRS),
        "Q_WORKERS": "1",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


def kill9(process: subprocess.Popen) -> None:
    """SIGKILL the process's whole group (it was started with start_new_session) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


# The workers of the running test, so that a failing test's report shows what they logged (tests/conftest.py).
TEST_WORKERS: list["Worker"] = []


class Worker:
    """A real `manage.py qcluster` in its own process group, so kill -9 takes all of it."""

    def __init__(self, **env):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="test-qcluster-", suffix=".log")
        self.process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=worker_env(**env),
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.final_log = None
        TEST_WORKERS.append(self)

    def log_tail(self, lines=150) -> str:
        if self.final_log is not None:
            return self.final_log
        try:
            with open(self.log.name, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError as exc:  # a test that closed the log itself (the file goes with it)
            return f"(the worker's log is gone: {exc.strerror})"

    def kill9(self):
        kill9(self.process)

    def stop(self):
        """End the cluster. The tests judge the database and the peers, never a graceful shutdown, which in
        django-q2 waits up to twenty seconds for its guard; and a job must survive a kill -9 anyway."""
        self.kill9()
        self.final_log = self.log_tail()  # the file goes with close()
        self.log.close()


def drive(task_id, limit=50):
    """Run the migration's ticks in this process until it ends; returns what each tick answered."""
    from migrations_app.models import MigrationTask
    from tests.jobs_engine.drive import run_tick

    outcomes = []
    for _ in range(limit):
        outcomes.append(run_tick(task_id))
        if MigrationTask.objects.get(pk=task_id).is_terminal:
            return outcomes
    raise AssertionError(f"migration {task_id} did not finish: {outcomes}")


def wait_for(predicate, timeout=60, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def report_inventory(agent, vcenter) -> None:
    """What a tenant's connector agent reports of the sandbox vCenter (read by the agent's own code,
    connector.inventory.take), stored as the portal's endpoint stores it: the portal checks an agent-served tenant's
    migrations against it."""
    from django.utils.dateparse import parse_datetime

    from connector import inventory
    from core.connectors import selectors, services

    report = inventory.take({"url": vcenter.url, "username": vcenter.username, "password": vcenter.password},
                            principals=selectors.inventory_principals(agent.tenant_id),
                            privileges=list(selectors.INVENTORY_PRIVILEGES))
    services.inventory_store(agent=agent, **{**report, "taken_at": parse_datetime(report["taken_at"])})
