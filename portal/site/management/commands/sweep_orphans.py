"""Remove what migrations and exports left behind in the tenants' AWS accounts (the hourly job, run now):

    manage.py sweep_orphans [--dry-run] [--min-age SECONDS]

--dry-run lists what would be removed and removes nothing. --min-age overrides ORPHAN_SWEEP_MIN_AGE_SECONDS.
"""

from django.core.management.base import BaseCommand, CommandError

from portal.site.sweep import orphan_sweep


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", dest="dry_run")
        parser.add_argument("--min-age", type=float, dest="min_age", help="seconds (default: the setting)")

    def handle(self, *args, dry_run=False, min_age=None, **options):
        if min_age is not None and min_age < 0:
            raise CommandError("--min-age cannot be negative.")
        removals = orphan_sweep(dry_run=dry_run, min_age_seconds=min_age)
        verb = "would remove" if dry_run else "removed"
        for r in removals:
            status = verb if dry_run or r.removed else f"NOT removed ({r.problem})"
            self.stdout.write(f"{r.region}\t{r.job or '-'}\t{r.kind}\t{r.resource}\t{status}\t{r.reason}")
        done = sum(r.removed for r in removals)
        failed = sum(bool(r.problem) for r in removals)
        summary = (f"{len(removals)} orphan(s) found (dry run)" if dry_run
                   else f"{done} orphan(s) removed, {failed} not removed")
        self.stdout.write(summary)
