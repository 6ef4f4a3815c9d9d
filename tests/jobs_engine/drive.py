"""The job engine (core.jobs) as the job tests drive it: one tick, one transition, one reconciler pass of a
given kind, by id, without a worker cluster in between."""

from lifecycle.backups.retention import retention_sweep
from core.jobs import lease, queue, reconciler, runner, tasks, transitions
from core.jobs.kinds import kind
from core.jobs.lease import LeaseLost  # noqa: F401 -- for the tests that expect it

MIGRATION, EXPORT, BACKUP, LAUNCH = "migration", "export", "backup", "launch"


def run_tick(task_id: int) -> str:
    """A migration's tick as the runner runs it (without the task's job log context). A job left waiting for its
    connector is then taken by the tenant's in-process agent, if the test runs one (tests.agents.inprocess), as a
    running agent's long poll takes it within a second."""
    from tests.agents.inprocess import agent_serving

    outcome = runner.run_tick(kind(MIGRATION), task_id)
    agent = agent_serving(task_id) if outcome == "waiting" else None
    if agent is not None:
        agent.take_work()
    return outcome


def export_run_tick(task_id: int) -> str:
    return runner.run_tick(kind(EXPORT), task_id)


def migration_tick(task_id: int) -> str:
    return tasks.job_tick(MIGRATION, task_id)


def backup_tick(task_id: int) -> str:
    return tasks.job_tick(BACKUP, task_id)


def launch_tick(task_id: int) -> str:
    return tasks.job_tick(LAUNCH, task_id)


def migration_transition(*, task_id: int, **fields):
    return transitions.transition(kind(MIGRATION), job_id=task_id, **fields)


def export_transition(*, task_id: int, **fields):
    return transitions.transition(kind(EXPORT), job_id=task_id, **fields)


def job_transition(model, *, task_id: int, **fields):
    return transitions.transition(model.job_kind, job_id=task_id, **fields)


def migration_admit(*, region_id: int) -> list[int]:
    return transitions.admit(kind(MIGRATION), scope=region_id)


def migration_reconcile() -> dict:
    return reconciler.reconcile()[MIGRATION]


def export_reconcile() -> dict:
    return reconciler.reconcile()[EXPORT]


def jobs_reconcile() -> dict:
    report = reconciler.reconcile()
    return {"backups": report[BACKUP]["restarted"], "launches": report[LAUNCH]["restarted"],
            "expired": retention_sweep()}


def lease_claim(*, task_id: int, owner: str, ttl_seconds: float, of: str = MIGRATION) -> int | None:
    return lease.claim(kind(of), job_id=task_id, owner=owner, ttl_seconds=ttl_seconds)


def checkpoint(*, task_id: int, epoch: int, of: str = MIGRATION, **fields) -> None:
    lease.checkpoint(kind(of), job_id=task_id, epoch=epoch, **fields)


def wake_schedule_name(task_id: int) -> str:
    return queue.wake_schedule_name(kind(MIGRATION), task_id)


def schedule_tick(task_id: int, at) -> None:
    queue.schedule_tick(kind(MIGRATION), task_id, at)


def enqueue_migration_tick(task_id: int) -> None:
    queue.enqueue_tick(kind(MIGRATION), task_id)


def enqueue_export_tick(task_id: int) -> None:
    queue.enqueue_tick(kind(EXPORT), task_id)
