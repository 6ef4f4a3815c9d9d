"""The engine's django-q2 entry points. They take a kind's name and an id, and stay thin."""


def job_tick(kind_name: str, job_id: int) -> str:
    from core.jobs.kinds import kind
    from core.jobs.runner import run_tick
    from core.observability import job_context

    job_kind = kind(kind_name)
    with job_context(job_kind.name, job_id):
        return run_tick(job_kind, job_id)


def reconcile() -> dict:
    """Scheduled every minute (core migration 0008 creates the schedule)."""
    from core.jobs.reconciler import reconcile as run

    return run()
