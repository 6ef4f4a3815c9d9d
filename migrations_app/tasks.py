"""django-q2 entry points. They take ids only and stay thin: the work is in pipeline and reconciler, imported
inside each function so that loading a task module never loads the whole app."""


def migration_tick(task_id: int) -> str:
    from migrations_app.pipeline import run_tick
    from migrations_app.queue import tick_accepted
    from portal.core.observability import job_context

    if not tick_accepted(task_id):
        return "rerouted"  # to the tenant's own cluster; nothing of the job ran here
    with job_context("migration", task_id):
        return run_tick(task_id)


def migration_reconcile() -> dict:
    """Scheduled every minute (migration 0002 creates the schedule)."""
    from migrations_app.reconciler import migration_reconcile as reconcile

    return reconcile()
