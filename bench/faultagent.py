"""The tenant's connector agent for bench/faults.py: the agent's own loop (connector.work.WorkLoop, each job a
connector.work.MigrationExport) in a thread of the bench's process, against the bench's vCenter simulator and AWS
sandbox, its signed calls answered by the portal's views through Django's test client (the bench runs no HTTP
server; the portal checks each call's signature, nonce and job lease as it does behind gunicorn).

A migration's export and upload are the agent's: the bench's worker processes only find such a job "waiting" until
the agent has sent its disks, then convert and launch it. Killing the agent mid-disk is
tests/migrations/test_agent_path.py's (a process agent); the bench's kill points are the platform's."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse

from connector import config, inventory, protocol, work
from connector.transport import Portal, PortalError, _category


class ViewsPortal(Portal):
    """connector.transport.Portal whose requests the portal's views in this process answer."""

    def __init__(self, *, agent_id: str, key):
        super().__init__("http://localhost", agent_id=agent_id, key=key)
        self._owner = threading.get_ident()

    def post(self, path: str, payload: dict, *, signed: bool = True, timeout: float = 30) -> dict:
        from django.db import connection
        from rest_framework.test import APIClient

        body = json.dumps(payload, separators=(",", ":")).encode()
        full_path = "/api/v1/" + path.lstrip("/")
        headers = protocol.sign_request(self.key, agent_id=self.agent_id, method="POST", path=full_path, body=body)
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        # A view's exception is an HTTP 500 to the agent, as behind gunicorn (it retries), not the bench's crash.
        client = APIClient(raise_request_exception=False, SERVER_NAME="localhost")
        try:
            response = client.generic("POST", urllib.parse.quote(full_path), body,
                                      content_type="application/json", **meta)
        finally:
            if threading.get_ident() != self._owner:
                # The agent's job, beat and upload threads come and go: none may leave a connection behind.
                connection.close()
        if response.status_code >= 400:
            try:
                errors = json.loads(response.content or b"{}").get("errors") or [{}]
            except ValueError:
                errors = [{}]
            raise PortalError(_category(response.status_code),
                              "; ".join(str(e.get("detail", "")) for e in errors) or f"HTTP {response.status_code}",
                              response.status_code, str(errors[0].get("code", "")))
        return json.loads(response.content) if response.content else {}


class BenchAgent(threading.Thread):
    """A registered agent of `tenant` with the simulator's vCenter entered on it; `start()` runs it (a beat every
    second, a request for work every 0.2 s, each job in a thread of its own) until `stop()`."""

    def __init__(self, tenant, vc, *, name: str = "faults"):
        from core.connectors import keys
        from core.connectors.models import Agent

        super().__init__(daemon=True, name="bench-agent")
        key = protocol.new_private_key()
        self.row = Agent.objects.create(tenant=tenant, name=name, public_key=protocol.public_key_text(key))
        self.portal = ViewsPortal(agent_id=str(self.row.pk), key=key)
        self.settings = config.Config(
            portal_url=self.portal.url, agent_id=str(self.row.pk), private_key=protocol.private_key_text(key),
            portal_public_keys=keys.public_key_texts(), name=name,
            vcenter={"url": vc.url, "username": vc.username, "password": vc.password})
        self.loop = work.WorkLoop(lambda: self.portal, lambda: self.settings, wait_seconds=0)
        self.stopped = threading.Event()
        self.errors: list[str] = []

    def beat(self) -> dict:
        answer = self.portal.post("agent/heartbeat/", {"version": "bench", "hostname": "bench",
                                                       "updating": False})
        self.settings.portal_vcenter = answer.get("vcenter") or {}
        return answer

    def report_inventory(self) -> dict:
        """The agent's report of its vCenter: what the portal checks a new migration's VM and user against."""
        answer = self.beat()
        return inventory.InventoryReporter(lambda: self.portal, lambda: self.settings).report(answer["inventory"])

    def run(self) -> None:
        from django.db import connection

        beaten = 0.0
        try:
            while not self.stopped.is_set():
                try:
                    if time.monotonic() - beaten >= 1:
                        self.beat()
                        beaten = time.monotonic()
                    self.loop.poll_once(wait=0)
                except PortalError as exc:  # the portal's trouble is the agent's to wait out, as a real one does
                    self.errors.append(str(exc))
                self.stopped.wait(0.2)
            for job in list(self.loop.running.values()):
                job.join(timeout=30)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=60)
