"""Many connectors, one portal: 1,000 simulated idle connector agents long-poll one portal on this machine; how
much CPU the portal spends while they idle, and how soon work that appears is picked up. See bench/README.md,
section `connectors.py`.

    .venv/bin/python bench/connectors.py                 # about 2 minutes on 2 cores
    .venv/bin/python bench/connectors.py --agents 20 --short   # the smoke test's mode, about 30 s

The portal runs as production runs it (`gunicorn portal.wsgi`, the README's flags, DJANGO_DEBUG off, JSON access
logs), on PostgreSQL when one answers at --database-url (the database is dropped and re-created), else on a
scratch SQLite file. Tenants, their users, regions and environments are made with the portal's services, the agents
as rows with their Ed25519 public keys. The agents are asyncio tasks in this process, each doing what
`python -m connector run` does while idle: every request is signed with `connector.protocol.sign_request` (a fresh
nonce each); a heartbeat first (it pins the portal's keys and says how long the portal holds a request for work),
then requests for work asking `{"wait": <that>, "keys": <digest>}` one after the other, as `connector.work.WorkLoop`
does (a hold longer than AGENT_WORK_KEEPALIVE_SECONDS is answered as a stream: spaces, then the JSON), and a
heartbeat every `--heartbeat-seconds` beside them (3600, AGENT_POLLING_HEARTBEAT_SECONDS, as `connector.agent` sends
while its request for work is held; 20 is what agents sent before) or at once when a work answer rings. Their first
requests ask a random shorter wait, and their first periodic heartbeat comes at a random point of its period, so that
both are spread evenly, as they are among agents that started at different times.

1. The portal's CPU (its master and workers, utime + stime from /proc/<pid>/stat) over an idle window while every
   agent long-polls and nothing is to be done.
2. Then, one at a time, a migration appears for a random agent's tenant (a row in `exporting`, lease free, as
   admission leaves it) and the time from the row's commit (taken just before the INSERT) to an agent of the
   tenant receiving its handout is measured; p95 over the pickups.

The last line has a fixed format: `connectors n=<agents> pickup_p95_s=<x.xx> idle_cpu_pct=<y.y>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the portal's packages

from connector import protocol
from connector.work import DEFAULT_WAIT_SECONDS  # what an agent asks of a portal whose heartbeat does not say

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/connectors_bench"
WORK_PATH = "/api/v1/agent/work/"
HEARTBEAT_PATH = "/api/v1/agent/heartbeat/"
# The production command of README.md (Production configuration), but for the address.
SERVER = ["-m", "gunicorn", "portal.wsgi", "-w", "3", "--threads", "500", "--worker-connections", "500"]
POOL_SIZE = "8"  # DATABASE_POOL_SIZE, as README recommends (PostgreSQL only)


# -- the database and its rows --------------------------------------------------------------------------------------

def pick_database(url: str, scratch: Path) -> tuple[str, str]:
    """PostgreSQL when it answers (dropped and re-created), else a scratch SQLite file."""
    if url.startswith("postgres"):
        try:
            import psycopg

            name = url.rsplit("/", 1)[1]
            with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            return url, "postgresql"
        except Exception as exc:  # noqa: BLE001 - any failure to reach it means SQLite
            print(f"PostgreSQL at {url} not usable ({type(exc).__name__}); using SQLite")
    return f"sqlite:///{scratch / 'portal.sqlite3'}", "sqlite"


def server_env(database_url: str) -> dict:
    """Production mode: DEBUG off, keys of its own, JSON logs; plain HTTP on the loopback (no TLS proxy here)."""
    from cryptography.fernet import Fernet

    return {**os.environ, "DATABASE_URL": database_url, "DJANGO_DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50), "CONNECTOR_SIGNING_KEY": secrets.token_urlsafe(32),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false", "PYTHONWARNINGS": "ignore", "DATABASE_POOL_SIZE": POOL_SIZE}


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_DEBUG", "true")  # this process only: development keys
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import logging
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # no query log in this process
    # The bench's users never log in: a fast hash instead of the real one's deliberate half second each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    logging.disable(logging.WARNING)


def prepare(agents: int, per_tenant: int) -> tuple[list[dict], dict[int, dict]]:
    """Tenants (one user with `general` on the default environment of one region) and `agents` registered agents,
    `per_tenant` to a tenant. Returns the agents (id, key, tenant) and what a migration needs per tenant."""
    from core import services
    from core.connectors.models import Agent
    from environments import services as env_services
    from environments.choices import EnvironmentRole
    from environments.models import SecurityGroup, Subnet

    tenants: dict[int, dict] = {}
    keys, rows = [], []
    for t in range(math.ceil(agents / per_tenant)):
        tenant = services.tenant_create(actor=None, name=f"Bench {t}", slug=f"bench-{t}")
        admin = services.user_create(actor=None, tenant=tenant, username=f"bench-{t}-admin", role="admin",
                                     password="correct-horse-battery-9")
        user = services.user_create(actor=None, tenant=tenant, username=f"bench-{t}-user", role="user",
                                    password="correct-horse-battery-9")
        environment = env_services.region_create(actor=admin, code="us-east-1").environments.get(is_default=True)
        env_services.environment_grant(actor=admin, environment=environment, principal=user,
                                       role=EnvironmentRole.GENERAL)
        subnet = Subnet.objects.create(tenant=tenant, environment=environment, subnet_id="subnet-0bench00000000001",
                                       cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
        group = SecurityGroup.objects.create(tenant=tenant, environment=environment, group_id="sg-0bench00000000001",
                                             name="bench")
        tenants[tenant.pk] = {"tenant_id": tenant.pk, "environment_id": environment.pk,
                              "region_id": environment.region_id, "created_by_id": user.pk, "subnet_id": subnet.pk,
                              "security_group_id": group.pk}
        for a in range(per_tenant):
            if len(rows) == agents:
                break
            key = protocol.new_private_key()
            keys.append(key)
            rows.append(Agent(tenant=tenant, name=f"dc-{a}", created_by=admin,
                              public_key=protocol.public_key_text(key)))
    made = Agent.objects.bulk_create(rows)
    return [{"id": str(row.pk), "key": key, "tenant_id": row.tenant_id} for row, key in zip(made, keys)], tenants


def new_job(tenant: dict, number: int) -> int:
    """A migration as admission leaves it for a connector agent: `exporting`, lease free. Autocommit: the row is
    committed when this returns."""
    from migrations_app.models import MigrationTask

    return MigrationTask.objects.create(
        **tenant, vm_moref=f"vm-bench-{number}", vm_name=f"bench{number}", operating_system="ubuntu-22.04",
        instance_type="t2.micro", state="exporting", import_token="bench", status_message="bench").pk


# -- the portal process -----------------------------------------------------------------------------------------------

def start_portal(env: dict, port: int, logdir: Path) -> subprocess.Popen:
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    log = open(logdir / "portal.log", "ab")  # noqa: SIM115 - the child writes it; closed here once handed over
    proc = subprocess.Popen([sys.executable, *SERVER, "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except urllib.error.HTTPError:
            return proc  # answering
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the portal did not start; see {logdir}/portal.log") from None
            time.sleep(0.3)


def stop_portal(proc: subprocess.Popen) -> None:
    """gunicorn's master and its workers, which it started in a session of their own. A graceful stop waits for
    the held long polls (up to gunicorn's graceful timeout, 30 s), so the workers are ended with their master."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # workers still finishing their held requests
        break


def process_tree(pid: int) -> list[int]:
    pids, found = [pid], True
    while found:
        found = False
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in pids:
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) in pids:
                    pids.append(int(entry))
                    found = True
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# -- the agents -------------------------------------------------------------------------------------------------------

class Fleet:
    """The simulated agents, each doing what `python -m connector run` does while idle: a heartbeat first (which
    pins the portal's keys), then `POST agent/work/` in a loop like WorkLoop (with the pinned keys' digest), and a
    heartbeat every `heartbeat_seconds` beside it, at once when a work answer rings (`beat`); handouts are recorded
    as they arrive. Each agent keeps a connection open per loop from one request to the next, as the agent's
    transport does per thread (`connector.transport`: HTTP/1.1 keep-alive, a request that meets a connection the
    portal closed is sent again on a new one); `keep_alive=False` opens a new connection for every request, as the
    agent did before (urllib)."""

    def __init__(self, agents: list[dict], port: int, wait: float, heartbeat_seconds: float,
                 keep_alive: bool = True):
        self.agents, self.port, self.wait, self.keep_alive = agents, port, wait, keep_alive
        self.heartbeat_seconds = heartbeat_seconds
        self.answered = 0  # requests for work answered (200)
        self.beats = 0  # heartbeats answered (200)
        self.rung = 0  # answers to requests for work that rang
        self.errors: list[str] = []
        self.waiting: set[str] = set()  # agents with a request for work open now
        self.received: dict[int, float] = {}  # job id -> when its handout arrived
        self.arrived = threading.Condition()
        self.stopping = False
        self.connections: dict[tuple, tuple] = {}  # (agent id, path) -> its open (reader, writer)

    async def request(self, agent: dict, path: str, body: dict, timeout: float) -> dict:
        body = json.dumps(body).encode()
        channel = (agent["id"], path)
        for attempt in (1, 2):
            signed = protocol.sign_request(agent["key"], agent_id=agent["id"], method="POST", path=path, body=body)
            head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Content-Type: application/json",
                    "Accept: application/json", f"Content-Length: {len(body)}",
                    *([] if self.keep_alive else ["Connection: close"]),
                    *(f"{name}: {value}" for name, value in signed.items())]
            reused = channel in self.connections
            reader, writer = self.connections.pop(channel, None) or await asyncio.open_connection(
                "127.0.0.1", self.port)
            try:
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await writer.drain()
                status, headers, payload = await asyncio.wait_for(self._response(reader), timeout=timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                if reused and attempt == 1:
                    continue  # the portal closed the idle connection: again on a new one, as the agent does
                raise
            except BaseException:
                writer.close()
                raise
            if self.keep_alive and headers.get("connection", "").lower() != "close":
                self.connections[channel] = (reader, writer)
            else:
                writer.close()
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {payload[:200]!r}")
            return json.loads(payload)
        raise AssertionError("unreachable")

    async def beat(self, agent: dict) -> None:
        """One heartbeat with what an agent reports; pins the portal's keys from its answer."""
        agent["rung"].clear()
        answer = await self.request(agent, HEARTBEAT_PATH, {
            "version": "bench", "hostname": f"dc-{agent['id']}", "updating": False, "vcenter_version": "8.0.3",
            "vcenter_reachable": True}, timeout=30)
        agent["keys"] = protocol.keys_digest(answer["portal_public_keys"])
        agent["wait"] = answer.get("work_wait_seconds") or self.wait  # as connector.agent does
        self.beats += 1

    async def run_beats(self, agent: dict) -> None:
        """Heartbeats every `heartbeat_seconds` (the first at a random point of the period, as among agents started
        at different times), and at once when rung."""
        await asyncio.sleep(random.uniform(0, self.heartbeat_seconds))
        while not self.stopping:
            try:
                await self.beat(agent)
            except (TimeoutError, OSError, RuntimeError, ValueError, KeyError, asyncio.IncompleteReadError) as exc:
                if self.stopping:
                    return
                self.errors.append(f"heartbeat {type(exc).__name__}: {exc}"[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(agent["rung"].wait(), timeout=self.heartbeat_seconds)

    async def run_agent(self, agent: dict, delay: float) -> None:
        await asyncio.sleep(delay)
        agent["rung"] = asyncio.Event()
        while "keys" not in agent and not self.stopping:
            try:
                await self.beat(agent)  # the agent's first heartbeat, as it starts
            except (TimeoutError, OSError, RuntimeError, ValueError, KeyError, asyncio.IncompleteReadError) as exc:
                self.errors.append(f"heartbeat {type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(1.0)
        beats = asyncio.create_task(self.run_beats(agent))
        wait = random.uniform(1.0, agent["wait"])  # spreads the re-polls over the wait
        try:
            while not self.stopping:
                try:
                    self.waiting.add(agent["id"])
                    answer = await self.request(agent, WORK_PATH, {"wait": wait, "keys": agent["keys"]},
                                                timeout=wait + 30)
                except (TimeoutError, OSError, RuntimeError, ValueError, IndexError,
                        asyncio.IncompleteReadError) as exc:
                    if self.stopping:
                        return
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    await asyncio.sleep(1.0)
                    continue
                finally:
                    self.waiting.discard(agent["id"])
                now = time.monotonic()
                self.answered += 1
                if answer.get("beat"):
                    self.rung += 1
                    agent["rung"].set()
                if answer["jobs"]:
                    with self.arrived:
                        for job in answer["jobs"]:
                            self.received.setdefault(job["job_id"], now)
                        self.arrived.notify_all()
                wait = agent["wait"]
        finally:
            beats.cancel()

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {name.strip().lower(): value.strip() for name, _, value in
                   (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            payload = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":  # a streamed hold: spaces, then the answer
            payload = b""
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                payload += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")  # no trailers
        else:
            payload = await reader.read()
            headers["connection"] = "close"
        return status, headers, payload

    def wait_for_job(self, job_id: int, timeout: float) -> float | None:
        with self.arrived:
            self.arrived.wait_for(lambda: job_id in self.received, timeout=timeout)
            return self.received.get(job_id)


def pickups(fleet: Fleet, tenants: dict[int, dict], count: int, loop_done: threading.Event) -> list[float]:
    """One migration at a time for a random agent's tenant; seconds from its commit to its handout."""
    times = []
    for number in range(count):
        if loop_done.is_set():
            break
        tenant = tenants[random.choice(fleet.agents)["tenant_id"]]
        time.sleep(random.uniform(0.1, 0.4))  # not in step with the board's looks
        committed = time.monotonic()
        job_id = new_job(tenant, number)
        received = fleet.wait_for_job(job_id, timeout=30)
        if received is None:
            print(f"  job {job_id}: not picked up within 30 s")
            times.append(math.inf)
        else:
            times.append(received - committed)
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


async def measure(fleet: Fleet, portal: subprocess.Popen, tenants: dict, args) -> tuple[dict, list[float]]:
    tasks = [asyncio.create_task(fleet.run_agent(agent, i * args.ramp / len(fleet.agents)))
             for i, agent in enumerate(fleet.agents)]
    # Warm-up: every agent has a request held, and the portal settled after the first burst.
    deadline = time.monotonic() + args.ramp + 120
    while len(fleet.waiting) < len(fleet.agents) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    if len(fleet.waiting) < len(fleet.agents):
        raise SystemExit(f"only {len(fleet.waiting)} of {len(fleet.agents)} agents are waiting; errors: "
                         f"{fleet.errors[:3]}")
    await asyncio.sleep(args.settle)
    pids = process_tree(portal.pid)
    answered, beats, cpu0, t0 = fleet.answered, fleet.beats, cpu_seconds(pids), time.monotonic()
    await asyncio.sleep(args.idle)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(pids) - cpu0
    idle = {"seconds": elapsed, "cpu_s": cpu, "requests": fleet.answered - answered, "beats": fleet.beats - beats,
            "processes": len(pids), "waiting": len(fleet.waiting)}

    done = threading.Event()
    times = await asyncio.to_thread(pickups, fleet, tenants, args.pickups, done)
    fleet.stopping = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return idle, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--per-tenant", type=int, default=2, help="agents per tenant (default 2)")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of the idle CPU window (default 30)")
    parser.add_argument("--pickups", type=int, default=60)
    parser.add_argument("--short", action="store_true",
                        help="smoke mode: a 3 s idle window, 5 pickups, a shorter ramp and settle")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--sqlite", action="store_true", help="use a scratch SQLite database even if PostgreSQL "
                                                              "answers")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, help="gunicorn's -w instead of the production command's")
    parser.add_argument("--threads", type=int, help="gunicorn's --threads (and --worker-connections) instead of "
                                                    "the production command's")
    parser.add_argument("--heartbeat-seconds", type=float, default=3600.0,
                        help="how often each agent sends a heartbeat beside its held request for work (default 3600, "
                             "AGENT_POLLING_HEARTBEAT_SECONDS; 20 is every AGENT_HEARTBEAT_SECONDS, as agents did "
                             "before their held request stood in for it)")
    parser.add_argument("--work-wait", type=float,
                        help="the portal's AGENT_WORK_WAIT_SECONDS instead of its default "
                             "(50: as before streamed holds)")
    parser.add_argument("--new-connections", action="store_true",
                        help="a new connection for every request, as agents did before their transport kept them open")
    parser.add_argument("--scratch", help="directory for the SQLite file and the portal's log (default: a new "
                                          "temporary one, removed after a run without errors)")
    args = parser.parse_args(argv)
    for flag, value in (("-w", args.workers), ("--threads", args.threads), ("--worker-connections", args.threads)):
        if value:
            SERVER[SERVER.index(flag) + 1] = str(value)
    args.ramp = min(10.0, args.agents / 200)  # connections opened at up to 200 a second
    args.settle = 5.0
    if args.short:
        args.idle, args.pickups, args.settle = min(args.idle, 3.0), min(args.pickups, 5), 1.0

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets here, and as many in the portal
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="connectors-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    database_url, database = pick_database("sqlite" if args.sqlite else args.database_url, scratch)
    env = server_env(database_url)
    if args.work_wait:
        env["AGENT_WORK_WAIT_SECONDS"] = str(args.work_wait)
    port = args.port or _free_port()
    started = time.monotonic()
    portal = start_portal(env, port, scratch)
    try:
        setup_django(database_url)
        made = time.monotonic()
        agents, tenants = prepare(args.agents, args.per_tenant)
        print(f"database {database}; {len(agents)} agents in {len(tenants)} tenants, made in "
              f"{time.monotonic() - made:.1f} s; portal: gunicorn {' '.join(SERVER[3:])} (log {scratch}/portal.log); "
              f"agents {'open a new connection per request' if args.new_connections else 'keep connections open'}")
        fleet = Fleet(agents, port, DEFAULT_WAIT_SECONDS, args.heartbeat_seconds, keep_alive=not args.new_connections)
        idle, times = asyncio.run(measure(fleet, portal, tenants, args))
    finally:
        stop_portal(portal)
    cpu_pct = 100 * idle["cpu_s"] / idle["seconds"]
    rate = idle["requests"] / idle["seconds"]
    print(f"idle window {idle['seconds']:.1f} s, {idle['waiting']} requests held: portal CPU {idle['cpu_s']:.2f} s "
          f"over {idle['processes']} processes = {cpu_pct:.1f} % of one core; {idle['requests']} requests for work "
          f"answered ({rate:.1f}/s, wait {fleet.agents[0]['wait']:.0f} s) and {idle['beats']} heartbeats "
          f"({idle['beats'] / idle['seconds']:.1f}/s, every {args.heartbeat_seconds:.0f} s), "
          f"{1000 * idle['cpu_s'] / max(1, idle['requests'] + idle['beats']):.1f} ms of CPU per request; "
          f"{fleet.rung} rang")
    finite = [t for t in times if math.isfinite(t)]
    if finite:
        print(f"pickups {len(times)}: median {statistics.median(finite):.3f} s, p95 {p95(times):.3f} s, "
              f"max {max(times):.3f} s")
    if fleet.errors:
        print(f"agent errors: {len(fleet.errors)} (first: {fleet.errors[0]})")
    print(f"total {time.monotonic() - started:.0f} s")
    if not args.scratch and not fleet.errors and all(map(math.isfinite, times)):
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"connectors n={len(agents)} pickup_p95_s={p95(times) if times else math.nan:.2f} idle_cpu_pct={cpu_pct:.1f}")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
