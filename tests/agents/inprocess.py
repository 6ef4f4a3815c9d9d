"""A tenant's connector agent run inside the test: the agent's own code (connector.work) against the sandbox
vCenter and S3, its calls to the portal signed with its own key and sent through Django's test client instead of
a socket, so that tests in a transaction (the `db` fixture) and tests that drive ticks by hand can have the
agent do a migration's vCenter side in between two ticks.

The agent's threads (the job's beat, the part uploads, the presign calls) reach the portal through the test's own
database connection, one call at a time: in a `db` test the rows it must see exist only in that connection's open
transaction."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse

from django.db import connections
from rest_framework.test import APIClient

from connector import config, inventory, protocol, work
from connector.transport import Portal, PortalError, _category
from core.connectors import keys
from core.connectors.models import Agent

# The agents of the running test, by tenant id: tests.migrations.helpers.drive hands each waiting job to its
# tenant's agent. tests/conftest.py clears it before each test.
AGENTS: dict[int, InProcessAgent] = {}


class ClientPortal(Portal):
    """connector.transport.Portal, answered by the portal's views in this process."""

    def __init__(self, *, agent_id: str, key):
        super().__init__("http://localhost", agent_id=agent_id, key=key)
        self._owner = threading.get_ident()
        self._connection = connections["default"]
        # In a `db` test the agent's rows exist only in the test's open transaction: its other threads must use
        # that connection. In a transactional test each thread has its own, as in a real portal.
        self._share = self._connection.in_atomic_block
        self._lock = threading.RLock()
        self._sharing = threading.local()

    def post(self, path: str, payload: dict, *, signed: bool = True, timeout: float = 30) -> dict:
        body = json.dumps(payload, separators=(",", ":")).encode()
        full_path = "/api/v1/" + path.lstrip("/")
        headers = protocol.sign_request(self.key, agent_id=self.agent_id, method="POST", path=full_path, body=body)
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        with self._lock:
            if self._share and threading.get_ident() != self._owner and not getattr(self._sharing, "on", False):
                # Another of the agent's threads: it works in the test's connection (and transaction).
                self._connection.inc_thread_sharing()
                connections["default"] = self._connection
                self._sharing.on = True
            try:
                response = APIClient().generic("POST", urllib.parse.quote(full_path), body,
                                               content_type="application/json", **meta)
            finally:
                if not self._share and threading.get_ident() != self._owner:
                    # The agent's threads come and go: none may leave a connection open behind it (PostgreSQL
                    # would refuse to drop the test database).
                    connections["default"].close()
        if response.status_code >= 400:
            errors = (json.loads(response.content or b"{}").get("errors") or [{}]) if response.content else [{}]
            raise PortalError(_category(response.status_code),
                              "; ".join(str(e.get("detail", "")) for e in errors) or f"HTTP {response.status_code}",
                              response.status_code, str(errors[0].get("code", "")))
        return json.loads(response.content) if response.content else {}


class InProcessAgent:
    """One registered agent of `tenant`, with the sandbox vCenter entered on it as an operator enters it."""

    def __init__(self, tenant, vcenter, *, name: str = "in-process", s3_ca_bundle: str = ""):
        key = protocol.new_private_key()
        self.row = Agent.objects.create(tenant=tenant, name=name, public_key=protocol.public_key_text(key))
        self.portal = ClientPortal(agent_id=str(self.row.pk), key=key)
        self.settings = config.Config(
            portal_url=self.portal.url, agent_id=str(self.row.pk), private_key=protocol.private_key_text(key),
            portal_public_keys=keys.public_key_texts(), name=name, s3_ca_bundle=s3_ca_bundle,
            vcenter={"url": vcenter.url, "username": vcenter.username, "password": vcenter.password})
        self.outcomes: list[str] = []
        AGENTS[tenant.pk] = self

    def beat(self) -> dict:
        """A heartbeat: the portal's contact with the agent, and its half of the vCenter settings."""
        answer = self.portal.post("agent/heartbeat/", {"version": "test", "hostname": "in-process",
                                                       "updating": self.settings.updating})
        self.settings.portal_vcenter = answer.get("vcenter") or {}
        return answer

    def report_inventory(self) -> dict:
        """The inventory as the agent reports it (its VMs and the mapped users' privileges): what the portal checks
        a new migration against."""
        answer = self.beat()
        return inventory.InventoryReporter(lambda: self.portal, lambda: self.settings).report(answer["inventory"])

    def start(self) -> AgentThread:
        """Run the agent in a thread of its own until `stop()`: for tests whose ticks run in worker processes."""
        self.thread = AgentThread(self)
        self.thread.start()
        return self.thread

    def stop(self) -> None:
        if getattr(self, "thread", None) is not None:
            self.thread.stop()

    def take_work(self) -> list[str]:
        """One request for work (no wait), and each job it was handed run to its end here; how each ended."""
        self.beat()
        ended = []
        for handout in self.portal.post("agent/work/", {"wait": 0}).get("jobs", []):
            ended.append(work.MigrationExport(handout, self.portal, self.settings).run())
        self.outcomes.extend(ended)
        return ended


class AgentThread(threading.Thread):
    """The agent running beside a test's worker processes (a transactional test): it beats and asks for work
    every 0.2 s, each job in a thread of its own, as `python -m connector run` does."""

    def __init__(self, agent: InProcessAgent):
        super().__init__(daemon=True, name=f"agent-{agent.row.pk}")
        self.agent = agent
        self.stopped = threading.Event()
        self.loop = work.WorkLoop(lambda: agent.portal, lambda: agent.settings, wait_seconds=0)
        # What a heartbeat answer asks of the inventory (a user's Refresh), answered as `connector run` answers it.
        self.inventory = inventory.InventoryReporter(lambda: agent.portal, lambda: agent.settings)
        self.errors: list[Exception] = []

    def run(self):
        from django.db import connection

        beaten = 0.0
        try:
            while not self.stopped.is_set():
                try:
                    if time.monotonic() - beaten >= 1:
                        answer = self.agent.beat()
                        beaten = time.monotonic()
                        instructions = answer.get("inventory") or {}
                        if instructions.get("refresh"):
                            self.inventory.report(instructions)
                    self.loop.poll_once(wait=0)
                except PortalError as exc:  # the portal's trouble is the agent's to wait out, as a real one does
                    self.errors.append(exc)
                self.stopped.wait(0.2)
            for job in list(self.loop.running.values()):
                job.join(timeout=30)
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()
        self.join(timeout=60)


def agent_serving(migration_id: int) -> InProcessAgent | None:
    """The in-process agent of the migration's tenant, when the migration waits for its connector."""
    from migrations_app.choices import MigrationState
    from migrations_app.models import MigrationTask

    task = MigrationTask.objects.filter(pk=migration_id).values("tenant_id", "state").first()
    if task is None or task["state"] not in (MigrationState.EXPORTING, MigrationState.UPLOADING):
        return None
    return AGENTS.get(task["tenant_id"])


__all__ = ["AGENTS", "AgentThread", "ClientPortal", "InProcessAgent", "PortalError", "agent_serving"]
