"""Agents' long polls for work (`POST agent/work/` with `wait`), held by a real server (the live server, a thread per
request): work that becomes claimable is handed to a waiting agent within about a second, and the process's
waiting requests cost a number of queries that does not grow with how many wait (migrations_app.work_board)."""

from __future__ import annotations

import contextvars
import json
import socket
import struct
import threading
import time
import urllib.parse
from contextlib import contextmanager

import pytest
from django.db.backends import utils as db_utils
from django.utils import timezone

from connector import protocol
from connector.transport import Portal
from core.connectors.models import Agent, AgentNonce
from migrations_app.models import MigrationTask
from migrations_app.work_board import BOARD

pytestmark = pytest.mark.django_db(transaction=True)


class Waiting(threading.Thread):
    """One agent's request for work, as `connector.work.WorkLoop` sends it (the agent's own transport)."""

    def __init__(self, portal: Portal, wait: float):
        super().__init__(daemon=True)
        self.portal, self.wait = portal, wait
        self.answer: dict | None = None
        self.error: Exception | None = None
        self.answered_at = 0.0

    def run(self):
        try:
            self.answer = self.portal.post("agent/work/", {"wait": self.wait}, timeout=self.wait + 30)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        self.answered_at = time.monotonic()


def _agents(tenant, count: int, live_server) -> list[Portal]:
    portals = []
    for n in range(count):
        key = protocol.new_private_key()
        agent = Agent.objects.create(tenant=tenant, name=f"dc-wait-{n}", public_key=protocol.public_key_text(key))
        portals.append(Portal(url=live_server.url, agent_id=str(agent.pk), key=key))
    return portals


def _hold(portals: list[Portal], wait: float) -> list[Waiting]:
    requests = [Waiting(portal, wait) for portal in portals]
    for request in requests:
        request.start()
    deadline = time.monotonic() + 20
    while not all(BOARD.holds(int(portal.agent_id)) for portal in portals):
        assert time.monotonic() < deadline, f"{BOARD.waiting()} requests wait, of {len(requests)} started"
        assert not any(r.error for r in requests), [r.error for r in requests if r.error]
        time.sleep(0.02)
    return requests


def _finish(requests: list[Waiting]) -> None:
    for request in requests:
        request.join(timeout=60)
        assert request.error is None, request.error


@contextmanager
def counted_queries():
    """Every query this process runs, from any thread (the server's request threads and the board's)."""
    seen: list[str] = []
    lock = threading.Lock()
    original = db_utils.CursorWrapper._execute

    def counting(self, sql, params, *ignore):
        with lock:
            seen.append(sql)
        return original(self, sql, params, *ignore)

    db_utils.CursorWrapper._execute = counting
    try:
        yield seen
    finally:
        db_utils.CursorWrapper._execute = original


def _exporting(task_id: int, **fields) -> None:
    MigrationTask.objects.filter(pk=task_id).update(state="exporting", import_token="token", **fields)


def test_waiting_requests_cost_queries_that_do_not_grow_with_how_many_wait_and_work_is_taken_within_a_second(
        world, live_server):
    """While N requests wait for work, the process asks the database a few times a second for all of them together,
    however large N is (before the board, each waiting request asked four times a second and held a connection);
    work that becomes claimable meanwhile reaches its tenant's waiting agent within about a second."""
    mine = _agents(world.a.tenant, 1, live_server)
    others = _agents(world.b.tenant, 19, live_server)

    def queries_while_waiting(portals, wait) -> tuple[int, list[Waiting]]:
        requests = _hold(portals, wait=wait)
        time.sleep(0.5)  # every request past its own start (authentication, nonce, last contact)
        with counted_queries() as seen:
            time.sleep(1.5)
        return len(seen), requests

    few, requests = queries_while_waiting(others[:2], wait=3)
    _finish(requests)
    many, bystanders = queries_while_waiting(others, wait=8)
    [waiting] = _hold(mine, wait=30)
    assert few <= 10 and many <= 10, (few, many)  # the board's looks (every 0.5 s) in 1.5 s, with slack
    assert waiting.answer is None  # held: nothing to do yet

    committed = time.monotonic()
    _exporting(world.a.migration.pk)  # as admission leaves it: committed here (autocommit)
    waiting.join(timeout=30)
    assert waiting.error is None, waiting.error
    [job] = waiting.answer["jobs"]
    assert job["job_id"] == world.a.migration.pk
    assert waiting.answered_at - committed < 2.0  # the board looks every AGENT_WORK_BOARD_SECONDS (0.5 s)
    _finish(bystanders)
    assert all(r.answer == {"jobs": [], "beat": False} for r in bystanders)  # another tenant's agents are not handed it


def test_a_job_whose_lease_ran_out_is_handed_to_a_waiting_agent_without_any_write(world, live_server):
    """A migration becomes claimable again when its agent's lease runs out (the agent was killed): nothing writes
    the row then, and a waiting agent takes it all the same, under a new epoch."""
    [portal] = _agents(world.a.tenant, 1, live_server)
    lapses, lapses_at = timezone.now() + timezone.timedelta(seconds=1.5), time.monotonic() + 1.5
    _exporting(world.a.migration.pk, lease_owner="agent:0", lease_epoch=4, lease_expires_at=lapses)
    [waiting] = _hold([portal], wait=30)
    waiting.join(timeout=30)
    assert waiting.error is None, waiting.error
    [job] = waiting.answer["jobs"]
    assert job["job_id"] == world.a.migration.pk and job["epoch"] == 5
    assert lapses_at - 0.1 < waiting.answered_at < lapses_at + 2.0  # not while the lease held, soon after


def test_a_waiting_agent_stays_in_contact_without_writing_on_every_request(world, live_server, settings):
    """The board records the contact of the agents waiting in its process, all at once, every
    AGENT_HEARTBEAT_SECONDS; a request for work does not write a last contact that is still fresh."""
    settings.AGENT_HEARTBEAT_SECONDS = 1
    [portal] = _agents(world.a.tenant, 1, live_server)
    agent = Agent.objects.get(pk=portal.agent_id)
    long_ago = timezone.now() - timezone.timedelta(minutes=5)
    Agent.objects.filter(pk=agent.pk).update(last_contact_at=long_ago)
    AgentNonce.objects.create(agent=agent, nonce="from-a-request-long-ago",
                              seen_at=timezone.now() - timezone.timedelta(minutes=11))
    [waiting] = _hold([portal], wait=3.5)
    first = Agent.objects.get(pk=agent.pk).last_contact_at
    assert first > long_ago  # stale: written when the request came
    time.sleep(2.5)
    assert Agent.objects.get(pk=agent.pk).last_contact_at > first  # refreshed while it waits
    # Nonces no request could still carry are forgotten with it (a held agent seldom sends a heartbeat, which
    # forgets its own); the request's own is kept.
    assert list(AgentNonce.objects.filter(agent=agent).values_list("nonce", flat=True)) != []
    assert not AgentNonce.objects.filter(nonce="from-a-request-long-ago").exists()
    _finish([waiting])

    settings.AGENT_HEARTBEAT_SECONDS = 60
    fresh = Agent.objects.get(pk=agent.pk).last_contact_at
    _finish(_hold([portal], wait=0.5))
    assert Agent.objects.get(pk=agent.pk).last_contact_at == fresh  # fresh: not written again


def test_a_held_request_rings_when_a_user_asks_for_the_inventory_and_when_the_agent_must_rotate(world, live_server):
    """What only a heartbeat's answer carries ends the held request at once with `beat`, so the agent need not beat
    every AGENT_HEARTBEAT_SECONDS to hear it in time; it carries no job."""
    from core.connectors.services import agent_request_rotation, inventory_refresh_request

    [portal] = _agents(world.a.tenant, 1, live_server)
    [waiting] = _hold([portal], wait=30)
    asked = time.monotonic()
    inventory_refresh_request(tenant_id=world.a.tenant.pk)
    waiting.join(timeout=30)
    assert waiting.error is None, waiting.error
    assert waiting.answer == {"jobs": [], "beat": True}
    assert waiting.answered_at - asked < 2.0

    [waiting] = _hold([portal], wait=4)  # asks again while the refresh still stands: not rung for it again
    waiting.join(timeout=30)
    assert waiting.answer == {"jobs": [], "beat": False}

    [waiting] = _hold([portal], wait=30)
    agent_request_rotation(actor=world.a.admin, agent=Agent.objects.get(pk=portal.agent_id))
    waiting.join(timeout=30)
    assert waiting.answer == {"jobs": [], "beat": True}


def test_an_agent_that_has_not_pinned_the_portal_keys_is_rung_at_once_and_handed_no_job(world, live_server):
    from core.connectors.keys import keys_digest

    [portal] = _agents(world.a.tenant, 1, live_server)
    _exporting(world.a.migration.pk)
    stale = protocol.keys_digest(["an-old-key"])
    assert portal.post("agent/work/", {"wait": 20, "keys": stale}) == {"jobs": [], "beat": True}
    answer = portal.post("agent/work/", {"wait": 20, "keys": keys_digest()})
    assert answer["beat"] is False and [job["job_id"] for job in answer["jobs"]] == [world.a.migration.pk]


def _sent_raw(live_server, portal: Portal, wait: float) -> socket.socket:
    """The agent's request for work on a bare socket, to read the answer's bytes as they come."""
    path, body = "/api/v1/agent/work/", json.dumps({"wait": wait}).encode()
    signed = protocol.sign_request(portal.key, agent_id=portal.agent_id, method="POST", path=path, body=body)
    host, port = urllib.parse.urlsplit(live_server.url).hostname, urllib.parse.urlsplit(live_server.url).port
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in signed.items())]
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The answer's status line and headers, and the body bytes that came with them."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


def test_a_hold_longer_than_the_keepalive_sends_spaces_until_its_answer(world, live_server, settings):
    """No proxy between agent and portal sees the connection idle for longer than AGENT_WORK_KEEPALIVE_SECONDS: a
    long hold is answered at once, a space every that many seconds, then the JSON answer (which JSON parsers read past
    the leading spaces); the agent's own transport reads it as any answer."""
    settings.AGENT_WORK_KEEPALIVE_SECONDS = 0.3
    [portal] = _agents(world.a.tenant, 1, live_server)
    sent = time.monotonic()
    with _sent_raw(live_server, portal, wait=1.8) as sock:
        head, body = _read_head(sock)
        assert head.startswith(b"HTTP/1.1 200") and b"application/json" in head
        assert b"X-Accel-Buffering: no" in head  # nginx forwards the spaces as they come
        while not body:
            body = sock.recv(4096)
        first_byte_after = time.monotonic() - sent
        while chunk := sock.recv(4096):
            body += chunk
    assert first_byte_after < 1.2  # a space, well before the hold ends (1.8 s)
    assert body.startswith(b"   ") and json.loads(body) == {"jobs": [], "beat": False}
    assert body.count(b" ") >= 3  # one every 0.3 s of a 1.8 s hold, give or take the server's scheduling

    assert portal.post("agent/work/", {"wait": 1.0}) == {"jobs": [], "beat": False}
    _exporting(world.a.migration.pk)
    answer = portal.post("agent/work/", {"wait": 5.0}, timeout=35)
    assert [job["job_id"] for job in answer["jobs"]] == [world.a.migration.pk]


def test_a_streamed_hold_leaves_the_board_when_its_agent_goes_away(world, live_server, settings):
    """An agent that closed its connection mid-hold (killed, restarted) is no longer held: the next space fails to
    send, the server closes the answer, and the board forgets the request (and stops recording the agent's contact)
    long before the hold would have ended."""
    settings.AGENT_WORK_KEEPALIVE_SECONDS = 0.2
    [portal] = _agents(world.a.tenant, 1, live_server)
    agent_id = int(portal.agent_id)
    with _sent_raw(live_server, portal, wait=60) as sock:
        _read_head(sock)
        deadline = time.monotonic() + 10
        while not BOARD.holds(agent_id):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, as a killed process
    gone = time.monotonic()
    while BOARD.holds(agent_id):
        assert time.monotonic() - gone < 5, "the hold outlived its agent's connection"
        time.sleep(0.05)


def test_a_streamed_answer_runs_in_its_requests_context():
    """The body of a streamed answer is produced after the middleware returned: each step still sees the request's
    context (its request id in log lines, its client's address in audit rows), and closing the stream closes it."""
    from core.middleware import current_remote_addr
    from migrations_app.api.agent import _within

    closed = []

    def steps():
        try:
            while True:
                yield current_remote_addr.get()
        finally:
            closed.append(current_remote_addr.get())

    token = current_remote_addr.set("192.0.2.9")
    context = contextvars.copy_context()
    current_remote_addr.reset(token)
    stream = _within(context, steps())
    assert [next(stream), next(stream)] == ["192.0.2.9", "192.0.2.9"]
    assert current_remote_addr.get() is None
    stream.close()
    assert closed == ["192.0.2.9"]
