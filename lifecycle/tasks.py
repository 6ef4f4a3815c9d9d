"""django-q2 entry points of backups that are not job ticks (ticks go through core.jobs.tasks). They take
ids only and stay thin, importing inside each function so that loading this module loads nothing."""


def backup_schedule_fire(schedule_id: int, intended_for: str | None = None) -> str:
    """Run by each backup schedule's django-q2 CRON schedule."""
    from lifecycle.backups.schedules import schedule_fire

    return schedule_fire(schedule_id, intended_for=intended_for)


def backup_retention_sweep() -> list[int]:
    """Scheduled every minute (lifecycle migration 0001 creates the schedule)."""
    from lifecycle.backups.retention import retention_sweep

    return retention_sweep()
