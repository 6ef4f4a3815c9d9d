"""The task history (migrations, exports, backups, launches) as a named administrator or auditor:

    manage.py task_history --user auditor [--type migration] [--environment 3] [--state failed]
                           [--since 2026-11-01T00:00Z] [--until ...] [--csv]
"""

from django.core.management.base import BaseCommand, CommandError

from core import csvsafe
from core.commands import acting_user
from portal.site.api_history import HistoryQuerySerializer
from portal.site.history import READ_HISTORY, csv_lines, history_row, history_rows

# Each filter of the API's history query and the option that gives it here: one validation for both.
OPTIONS = {"type": "type", "environment": "environment", "user": "started_by", "state": "state", "since": "since",
           "until": "until"}


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--type", help="migration, export, backup or launch")
        parser.add_argument("--environment", help="An environment id.")
        parser.add_argument("--started-by", dest="started_by", help="The id of the user who started it.")
        parser.add_argument("--state")
        parser.add_argument("--since", help="Created at or after, ISO 8601 (default: seven days ago).")
        parser.add_argument("--until", help="Created before, ISO 8601.")
        parser.add_argument("--csv", action="store_true", help="Write CSV (every matching row).")

    def handle(self, *args, **options):
        user = acting_user(options["user"])
        if not READ_HISTORY.allows(user):
            raise CommandError("Only administrators and auditors read the task history.")
        query = HistoryQuerySerializer(data={field: options[dest] for field, dest in OPTIONS.items()
                                             if options[dest] is not None})
        if not query.is_valid():
            field, problems = next(iter(query.errors.items()))
            flag = "--" + OPTIONS.get(field, field).replace("_", "-")
            raise CommandError(f"{flag}: {' '.join(str(problem) for problem in problems)}")
        found = history_rows(fetched_by=user, filters=query.filters())
        if options["csv"]:
            writer = csvsafe.writer(self.stdout)
            for line in csv_lines(found):
                writer.writerow(line)
            return
        for row in (history_row(r) for r in found.iterator()):
            finished = row["finished_at"].isoformat() if row["finished_at"] else "-"
            self.stdout.write(f"{row['created_at'].isoformat()}  {row['type']:<9} {row['id']:>6}  {row['state']:<11} "
                              f"{row['environment']:<20} {row['user']:<20} {finished}  {row['summary']}")
