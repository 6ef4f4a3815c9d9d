"""django-q2 entry points of environment jobs. They take ids only and stay thin: the work is in the workers,
schedules and reconciler, imported inside each function so that loading a task module never loads the whole app."""


def backup_tick(task_id: int) -> str:
    from environments.backups.worker import backup_tick as tick
    from portal.core.observability import job_context

    with job_context("backup", task_id):
        return tick(task_id)


def launch_tick(task_id: int) -> str:
    from environments.launches.worker import launch_tick as tick
    from portal.core.observability import job_context

    with job_context("launch", task_id):
        return tick(task_id)


def backup_schedule_fire(schedule_id: int, intended_for: str | None = None) -> str:
    """Run by each backup schedule's django-q2 CRON schedule."""
    from environments.backups.schedules import schedule_fire

    return schedule_fire(schedule_id, intended_for=intended_for)


def jobs_reconcile() -> dict:
    """Scheduled every minute (migration 0005 creates the schedule)."""
    from environments.reconciler import jobs_reconcile as reconcile

    return reconcile()
