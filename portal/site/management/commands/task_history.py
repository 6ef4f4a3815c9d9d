"""The task history (migrations, exports, backups, launches) as a named administrator or auditor:

    manage.py task_history --user auditor [--type migration] [--environment 3] [--state failed]
                           [--since 2026-11-01T00:00Z] [--until ...] [--csv]
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from core import csvsafe
from core.commands import acting_user
from portal.site.history import (
    CSV_HEADER,
    READ_HISTORY,
    HistoryFilters,
    csv_line,
    history_row,
    history_rows,
    history_states,
    history_types,
)


def _when(value: str):
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise CommandError(f"Give {value!r} as an ISO date and time with its offset, e.g. 2026-11-01T00:00Z.")
    return parsed


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--type", choices=history_types())
        parser.add_argument("--environment", type=int)
        parser.add_argument("--started-by", type=int, dest="started_by", help="The id of the user who started it.")
        parser.add_argument("--state", choices=history_states())
        parser.add_argument("--since", type=_when, help="Created at or after (default: seven days ago).")
        parser.add_argument("--until", type=_when, help="Created before.")
        parser.add_argument("--csv", action="store_true", help="Write CSV (every matching row).")

    def handle(self, *args, **options):
        user = acting_user(options["user"])
        if not READ_HISTORY.allows(user):
            raise CommandError("Only administrators and auditors read the task history.")
        filters = HistoryFilters(type=options["type"], environment=options["environment"],
                                 user=options["started_by"], state=options["state"], since=options["since"],
                                 until=options["until"])
        rows = (history_row(r) for r in history_rows(fetched_by=user, filters=filters).iterator())
        if options["csv"]:
            writer = csvsafe.writer(self.stdout)
            writer.writerow(CSV_HEADER)
            for row in rows:
                writer.writerow(csv_line(row))
            return
        for row in rows:
            finished = row["finished_at"].isoformat() if row["finished_at"] else "-"
            self.stdout.write(f"{row['created_at'].isoformat()}  {row['type']:<9} {row['id']:>6}  {row['state']:<11} "
                              f"{row['environment']:<20} {row['user']:<20} {finished}  {row['summary']}")
