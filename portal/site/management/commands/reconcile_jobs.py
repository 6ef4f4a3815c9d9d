"""Run the job engine's safety net now (the minutely job): restart every job whose worker died or whose wake-up
is due, and admit queued jobs where slots are free, for every job kind.

    manage.py reconcile_jobs
"""

from django.core.management.base import BaseCommand

from core.jobs.reconciler import reconcile


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def handle(self, *args, **options):
        for kind, report in reconcile().items():
            self.stdout.write(f"{kind}\trestarted {report['restarted']}\tadmitted {report['admitted']}")
