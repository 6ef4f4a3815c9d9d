"""django-q2 entry points of the site layer; thin, the work is in `portal.site.services`."""


def history_cleanup() -> dict:
    """Scheduled daily (portal/site/migrations/0001_history_cleanup_schedule.py creates the schedule)."""
    from portal.site.services import history_cleanup as cleanup

    return {str(tenant): counts for tenant, counts in cleanup().items()}


def orphan_sweep() -> dict:
    """Scheduled hourly (portal/site/migrations/0002_orphan_sweep_schedule.py creates the schedule)."""
    from portal.site.sweep import orphan_sweep as sweep

    removals = sweep()
    return {"removed": sum(r.removed for r in removals), "problems": sum(bool(r.problem) for r in removals)}
