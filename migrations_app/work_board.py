"""The work board: how a web process holds many connector agents' requests for work (`POST agent/work/`, a long
poll) at almost no cost, and still hands a migration over within about a second of it becoming claimable.

One board per web process. A waiting request registers its tenant on the board and blocks on that tenant's
condition: it runs no query while it waits and holds no database connection (it gives its connection back first;
with PostgreSQL's default of 100 connections, a thousand waiting agents could not hold one each). One background
thread, running only while something waits in the process, asks the database every `AGENT_WORK_BOARD_SECONDS`
(0.5 s) which migrations any agent could claim now: one query for every waiting request of the process together,
compiled once, read through the `state` index (only rows in an agent's states, which admission bounds), so it
does not grow with the number of waiting agents nor with the history. When a tenant's claimable set gains a job
(a new one, or one handed out again under a new lease epoch), its waiting requests wake and try to claim it; the
claim itself (`agent_work.work_claim`, under the job's lease) decides which agent of the tenant gets it, as before.
A request whose tenant had nothing claimable at the board's last look does not look itself: whatever appears is
new to the next look, which wakes it. Every `AGENT_HEARTBEAT_SECONDS` the board also records, in one write, that
the agents it holds are in contact, so that a request need not write its agent's last contact each time (and
forgets the nonces no request could still carry).

The board also rings: at each look it reads what the portal has to tell agents that only a heartbeat's answer
carries (a fresh inventory a user asked for, or asked for by changed vCenter settings; an agent's key to rotate;
an agent just revoked), and a waiting request of a tenant that gained such a bell ends with `beat`, on which the
agent sends its heartbeat at once. So the held request stands in for the heartbeat: an agent whose request is held
sends one only every AGENT_POLLING_HEARTBEAT_SECONDS, and hears what it must sooner than its heartbeat did.

Why a query and not a message (Redis pub/sub): a migration becomes claimable not only when something writes it
(admission, a released lease) but also when time passes, without any write: an agent's lease runs out (the agent
was killed) or a retry's backoff (`wake_at`) ends. Only a look at the rows sees those, so pub/sub could only
shorten the first case and would still need this look. The board needs nothing beyond the database every process
already shares, so it works the same with several web processes on several hosts (each looks for itself: a few
cheap queries a second per process, whatever the number of agents) and in the embedded set-up (SQLite, no Redis).

Why threads: each held request keeps a server thread blocked on its condition (no CPU, no connection), so the
web server needs as many threads as requests it holds: gunicorn's threaded worker with enough threads (README,
*Production configuration*), the development server's thread per request, or the test live server. Django's
async views would hold a request without a thread, but this site's middleware is synchronous, so under ASGI every
request still takes a thread and pays the hops between it and the event loop: measured (bench/README.md,
*connectors.py*), an agent's request costs about a third more CPU under uvicorn than under gunicorn's threaded
worker, and it is the agents' requests, not the waiting, that cost."""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q, Value
from django.db.models.functions import Now

logger = logging.getLogger("portal.migrations.agent")


class _Tenant:
    """What the board knows of one tenant while some request of its agents waits."""

    __slots__ = ("bells", "changed", "generation", "rung", "seen", "waiters")

    def __init__(self, lock: threading.Lock, rung: frozenset):
        self.waiters = 0
        self.generation = 0  # bumped whenever the tenant's claimable set gains a job, or a bell rings
        self.seen: frozenset = frozenset()  # (job id, lease epoch) claimable at the last look
        self.bells = 0  # bumped whenever the portal gains something to tell the tenant's agents
        self.rung = rung  # what the portal had to tell them at the last look
        self.changed = threading.Condition(lock)


class Watch:
    """One waiting request's hold on its tenant's place on the board."""

    def __init__(self, board: WorkBoard, tenant: _Tenant, agent_id: int):
        self.board, self.tenant = board, tenant
        self.generation = tenant.generation
        # Whether the board's last look found claimable work of the tenant. When it did not, the request need not
        # look itself: anything that becomes claimable is new to the board's next look, which wakes this watch
        # (a tenant the board has not looked at yet counts everything it finds as new).
        self.work_known = bool(tenant.seen)
        # A bell of the tenant's that rang before this request came is heard by the agents that were waiting then;
        # one meant for this agent alone (its key to rotate, its credential revoked) it must hear itself.
        self.bells = tenant.bells - (1 if any(bell[1:2] == (agent_id,) for bell in tenant.rung) else 0)

    def rang(self) -> bool:
        """Whether the portal gained something to tell the agent since the watch began: the request then ends, and
        the agent asks for it with a heartbeat (`connector.agent`), which it otherwise sends seldom."""
        return self.tenant.bells != self.bells

    def wait(self, timeout: float) -> bool:
        """Block until the tenant's claimable work changed since the watch began (or since the last wait said so),
        at most `timeout` seconds; True when it did."""
        deadline = time.monotonic() + timeout
        with self.board.lock:
            while self.tenant.generation == self.generation:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.tenant.changed.wait(remaining)
            self.generation = self.tenant.generation
            return True


class WorkBoard:
    def __init__(self, claimable, seen, bells=list, *, interval: float | None = None):
        """`claimable()` returns the (tenant id, job id, lease epoch) of every job an agent could claim now;
        `seen(agent ids)` records that these agents are in contact now (they hold a request); `bells()` returns
        (tenant id, what, agent id or 0, when) for everything the portal has to tell a tenant's agents now, which
        only a heartbeat's answer carries (an inventory asked for, a key to rotate, a revoked credential)."""
        self.claimable, self.seen, self.bells = claimable, seen, bells
        self.interval = interval
        self.lock = threading.Lock()
        self.tenants: dict[int, _Tenant] = {}
        self._with_work: set[int] = set()  # tenants whose `seen` or `rung` is not empty
        # What each tenant's agents waiting here were last told to ask for, kept while it stands even when none waits
        # (a request ends, the agent asks again): an agent still taking the inventory it was asked for must not be
        # rung for it again at each new request. A bell that rings while none waits here rings at the next one.
        self._rung: dict[int, frozenset] = {}
        self.agents: dict[int, int] = {}  # agent id -> its requests waiting here
        self._seen_at = 0.0
        self._failing = False
        self.someone_waits = threading.Condition(self.lock)
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def watch(self, tenant_id: int, agent_id: int):
        """Register a waiting request of `tenant_id`'s agent for as long as the block runs. Register before the
        request's own first look for work, so that nothing that appears after that look is missed."""
        with self.lock:
            self._ensure_thread()
            tenant = self.tenants.get(tenant_id)
            if tenant is None:
                tenant = self.tenants[tenant_id] = _Tenant(self.lock, self._rung.get(tenant_id, frozenset()))
            tenant.waiters += 1
            self.agents[agent_id] = self.agents.get(agent_id, 0) + 1
            watch = Watch(self, tenant, agent_id)
            self.someone_waits.notify()
        try:
            yield watch
        finally:
            with self.lock:
                tenant.waiters -= 1
                if tenant.waiters == 0 and self.tenants.get(tenant_id) is tenant:
                    del self.tenants[tenant_id]
                self.agents[agent_id] -= 1
                if not self.agents[agent_id]:
                    del self.agents[agent_id]

    def waiting(self) -> int:
        """How many requests wait on this board now."""
        with self.lock:
            return sum(tenant.waiters for tenant in self.tenants.values())

    def holds(self, agent_id: int) -> bool:
        """Whether a request of this agent waits on this board now."""
        with self.lock:
            return agent_id in self.agents

    def _ensure_thread(self) -> None:
        """Start the looking thread in this process (again after a fork: threads do not survive one)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="agent-work-board", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                idle = not self.tenants
            if idle:
                _close_connection()  # nothing waits here: hold no database connection while asleep
                with self.lock:
                    while not self.tenants:
                        self.someone_waits.wait()
            started = time.monotonic()
            self.look()
            if started - self._seen_at >= settings.AGENT_HEARTBEAT_SECONDS:
                self._seen_at = started
                self.refresh_contact()
            interval = self.interval if self.interval is not None else settings.AGENT_WORK_BOARD_SECONDS
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _failed(self, what: str) -> None:
        """Logged once per run of failures (a database that is away fails every look until it is back)."""
        if not self._failing:
            logger.warning("the agent work board %s", what, exc_info=True)  # noqa: LOG014 - called in handlers
        self._failing = True
        _close_connection()

    def refresh_contact(self) -> None:
        """The agents waiting here are in contact: one write for all of them, every AGENT_HEARTBEAT_SECONDS, so that
        a request need not write its agent's last contact itself (and the pages see an agent that holds a request
        as online however long it waits)."""
        with self.lock:
            agents = sorted(self.agents)
        try:
            self.seen(agents)
        except Exception:  # noqa: BLE001 - the board must outlive any failure; it tries again next time
            self._failed("could not record its agents' contact")

    def look(self) -> None:
        """One look at the database for every waiting request of the process; wakes the tenants that gained work."""
        try:
            rows, bells = self.claimable(), self.bells()
        except Exception:  # noqa: BLE001 - the board must outlive any failure (the database away, say)
            self._failed("could not read the database; looking again")
            return
        if self._failing:
            logger.info("the agent work board reads the database again")
            self._failing = False
        found: dict[int, set] = {}
        for tenant_id, job_id, epoch in rows:
            found.setdefault(tenant_id, set()).add((job_id, epoch))
        ringing: dict[int, set] = {}
        for tenant_id, *bell in bells:
            ringing.setdefault(tenant_id, set()).add(tuple(bell))
        with self.lock:
            # Only the tenants with claimable work or a bell now or at the last look: the others (nearly all of a
            # thousand idle agents' tenants) have nothing to compare, and a look must not grow with them.
            for tenant_id in found.keys() | ringing.keys() | self._with_work:
                tenant = self.tenants.get(tenant_id)
                if tenant is None:
                    continue  # no request of its agents waits here
                now, rung = frozenset(found.get(tenant_id, ())), frozenset(ringing.get(tenant_id, ()))
                if rung - tenant.rung:
                    tenant.bells += 1
                if now - tenant.seen or rung - tenant.rung:
                    tenant.generation += 1
                    tenant.changed.notify_all()
                tenant.seen, tenant.rung = now, rung
                if rung:
                    self._rung[tenant_id] = rung
            for tenant_id in [t for t in self._rung if t not in ringing]:
                del self._rung[tenant_id]
            self._with_work = {tenant_id for tenant_id in found.keys() | ringing.keys() if tenant_id in self.tenants}


def _close_connection() -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001, S110 - a connection that cannot even be closed is gone anyway
        pass


_compiled: dict = {}


def _claimable_rows():
    """(tenant id, job id, lease epoch) of every claimable migration. The query is compiled once per database and
    attempts limit (its clock is the database's), which is most of what building it through the ORM each time
    costs: a look is then little more than the round trip."""
    from migrations_app import agent_work
    from migrations_app.job import MIGRATION

    key = (connection.vendor, connection.settings_dict["NAME"], MIGRATION.setting("MAX_ATTEMPTS"))
    if key not in _compiled:
        query = agent_work.claimable().order_by().values_list("tenant_id", "pk", "lease_epoch").query
        _compiled.clear()
        _compiled[key] = query.sql_with_params()
    sql, params = _compiled[key]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _bells():
    """(tenant id, what, agent id or 0, when) of what the portal has to tell agents now, which a heartbeat answer
    carries: an inventory a user asked for (until an agent reports it), a key to rotate (until rotated), a
    credential revoked in the last `AGENT_WORK_WAIT_SECONDS` (the agent then hears the refusal at once rather than
    at the end of its wait). Compiled once like the claimable query, and like it one table a statement: a statement
    that locks two tables in turn can deadlock with a statement that locks them all (a migration's ALTER, a test's
    TRUNCATE), one per table cannot. Both tables hold a row per tenant or agent."""
    from core.connectors.models import Agent, VCenterInventory

    key = (connection.vendor, connection.settings_dict["NAME"], settings.AGENT_WORK_WAIT_SECONDS)
    if key not in _compiled_bells:
        refresh = VCenterInventory.objects.filter(refresh_requested_at__isnull=False).values_list(
            "tenant_id", Value("refresh"), Value(0), "refresh_requested_at")
        recently = Now() - timedelta(seconds=settings.AGENT_WORK_WAIT_SECONDS + 10)
        agents = Agent.objects.filter(Q(rotation_requested=True, revoked_at__isnull=True)
                                      | Q(revoked_at__gt=recently)).values_list(
            "tenant_id", Value("agent"), "pk", "revoked_at")
        _compiled_bells.clear()
        _compiled_bells[key] = [q.order_by().query.sql_with_params() for q in (refresh, agents)]
    rows = []
    with connection.cursor() as cursor:
        for sql, params in _compiled_bells[key]:
            cursor.execute(sql, params)
            rows.extend(cursor.fetchall())
    return rows


_compiled_bells: dict = {}


def _agents_seen(agent_ids: list[int]) -> None:
    from core.connectors import services

    services.agents_seen(agent_ids=agent_ids, fresh_seconds=settings.AGENT_HEARTBEAT_SECONDS / 2)
    services.agent_nonces_forget()


BOARD = WorkBoard(_claimable_rows, _agents_seen, _bells)


def release_connection() -> None:
    """A request about to wait gives its database connection back (with PostgreSQL's default of 100 connections,
    a thousand waiting agents must not hold one each); the next query opens one again. Not inside a transaction
    (a test's, say), which must go on with the connection it has."""
    if not connection.in_atomic_block:
        connection.close()
