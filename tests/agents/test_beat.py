"""The agent's heartbeat while its request for work is held: rare, because that request keeps its contact and the
portal rings it (`"beat": true`) when it has something a heartbeat's answer carries (migrations_app.work_board's
bells, connector.agent.Agent.beat_due)."""

from __future__ import annotations

import threading

from connector import agent as agent_module
from connector import config, protocol, work
from migrations_app.work_board import WorkBoard


class Rows:
    """What the board's queries answer, set by the test."""

    def __init__(self):
        self.jobs: list = []
        self.bells: list = []


def _board(rows: Rows) -> WorkBoard:
    board = WorkBoard(lambda: list(rows.jobs), lambda agent_ids: None, lambda: list(rows.bells), interval=3600)
    board._ensure_thread = lambda: None  # the test looks itself, no thread
    return board


def test_a_bell_rings_the_waiting_agents_of_its_tenant_once_and_not_the_others():
    rows = Rows()
    board = _board(rows)
    with board.watch(1, 11) as mine, board.watch(2, 21) as theirs:
        board.look()
        assert not mine.rang() and not theirs.rang()
        rows.bells = [(1, "refresh", 0, "2026-12-07T20:00:00")]
        board.look()
        assert mine.rang() and not theirs.rang()
        assert mine.wait(0.01)  # the wait wakes for it too
        board.look()  # the same bell again: nothing new
        assert mine.wait(0.01) is False
    # The agent asks again (no request of its tenant waited in between): the bell it heard does not ring again,
    # while it still stands (the agent may still be reading the inventory it asked for).
    with board.watch(1, 11) as again:
        board.look()
        assert not again.rang()
    rows.bells = [(1, "refresh", 0, "2026-12-07T20:05:00")]  # a new request rings while none waits here
    board.look()
    with board.watch(1, 11) as later:
        board.look()
        assert later.rang()


def test_a_bell_for_one_agent_rings_its_next_request_even_if_another_agent_of_the_tenant_heard_it():
    rows = Rows()
    board = _board(rows)
    rows.bells = [(1, "agent", 12, None)]  # agent 12 is asked to rotate its key
    with board.watch(1, 11) as other:
        board.look()
        assert other.rang()  # a request of the tenant's other agent ends too (a spare heartbeat, harmless)
        with board.watch(1, 12) as target:
            assert target.rang()  # came after the ring: it is meant for this agent, so it hears it at once
        with board.watch(1, 13) as bystander:
            assert not bystander.rang()


def test_work_wakes_a_watch_without_ringing_it():
    rows = Rows()
    board = _board(rows)
    with board.watch(1, 11) as watch:
        board.look()
        rows.jobs = [(1, 100, 1)]
        board.look()
        assert watch.wait(0.01) and not watch.rang()


class FakeWork:
    def __init__(self):
        self.is_held = False

    def held(self) -> bool:
        return self.is_held


class FakePortal:
    def __init__(self):
        self.beats: list[dict] = []
        self.says: dict = {}  # more in its answers

    def post(self, path, body, **ignore):
        if path != "agent/heartbeat/":
            raise AssertionError(path)
        self.beats.append(body)
        return {"polling_heartbeat_seconds": 300, "portal_public_keys": [], "vcenter": {}, "rotate": False,
                "inventory": None, **self.says}


def _agent(tmp_path, monkeypatch):
    key = protocol.new_private_key()
    settings = config.Config(portal_url="https://portal.invalid", agent_id="1",
                             private_key=protocol.private_key_text(key), portal_public_keys=[],
                             heartbeat_seconds=20)
    path = tmp_path / "config.json"
    config.save(settings, path)
    agent = agent_module.Agent(settings, path=path)
    agent.portal, agent.work = FakePortal(), FakeWork()
    clock = [1000.0]
    monkeypatch.setattr(agent_module.time, "monotonic", lambda: clock[0])
    return agent, clock


def test_the_heartbeat_is_rare_while_the_request_for_work_is_held_and_sent_at_once_when_rung(tmp_path, monkeypatch):
    agent, clock = _agent(tmp_path, monkeypatch)
    assert agent.beat_due()  # nothing sent yet
    agent.beat()
    assert agent.polling_heartbeat_seconds == 300

    clock[0] += 25
    assert agent.beat_due()  # no request held: every heartbeat_seconds, as before
    agent.beat()
    agent.work.is_held = True
    clock[0] += 25
    assert not agent.beat_due()  # held: its request keeps the contact
    clock[0] += 280
    assert agent.beat_due()  # 300 s after the last one all the same
    agent.beat()

    clock[0] += 1
    agent.rung.set()  # the portal rang (a request for work answered `beat`)
    assert agent.beat_due()
    agent.beat()
    assert not agent.rung.is_set() and not agent.beat_due()

    config.save(config.Config(**{**agent.settings.__dict__, "updating": True}), agent.path)
    assert agent.beat_due()  # what it reports changed (`connector updating on` in another process)
    agent.beat()
    assert agent.portal.beats[-1]["updating"] is True
    assert len(agent.portal.beats) == 5


def test_the_work_loop_rings_the_heartbeat_when_the_portal_says_so():
    rung = threading.Event()

    class Portal:
        def post(self, path, body, **ignore):
            assert path == "agent/work/" and body["keys"] == protocol.keys_digest(["k1"])
            return {"jobs": [], "beat": True}

    from connector.work import WorkLoop

    settings = config.Config(portal_url="https://portal.invalid", agent_id="1", private_key="x",
                             portal_public_keys=["k1"])
    loop = WorkLoop(lambda: Portal(), lambda: settings, wait_seconds=0, on_beat=rung.set)
    assert not loop.held()
    loop.poll_once()
    assert rung.is_set()
    assert loop.held()  # just answered: the next request is on its way


def test_a_ring_that_keeps_coming_back_costs_a_request_a_second_not_a_busy_loop():
    """Keys that never match (or any ring without a job, again and again): the loop pauses after each such answer,
    so that the heartbeat it asked for lands first and a portal that keeps ringing is not flooded."""
    from connector.work import WorkLoop

    asked = []

    class Portal:
        def post(self, path, body, **ignore):
            asked.append(path)
            return {"jobs": [], "beat": True}

    settings = config.Config(portal_url="https://portal.invalid", agent_id="1", private_key="x",
                             portal_public_keys=["k1"])
    loop = WorkLoop(lambda: Portal(), lambda: settings, wait_seconds=0)
    stop = threading.Event()
    worker = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    worker.start()
    stop.wait(2.5)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert 2 <= len(asked) <= 4, len(asked)  # about one a second (thousands without the pause)
    assert loop.rang_idle


def test_the_agent_asks_to_be_held_as_long_as_the_portal_says_it_holds(tmp_path, monkeypatch):
    """The portal says in each heartbeat's answer how long it holds a request for work; a portal that does not say
    (one from before streamed holds, which refuses a wait over 60 s) is asked for 50 s."""
    agent, _ = _agent(tmp_path, monkeypatch)
    agent.work = work.WorkLoop(lambda: agent.portal, lambda: agent.settings)
    agent.portal.says = {"work_wait_seconds": 120.0}
    agent.beat()
    assert agent.work.wait_seconds == 120.0
    agent.portal.says = {}
    agent.beat()
    assert agent.work.wait_seconds == work.DEFAULT_WAIT_SECONDS == 50.0
