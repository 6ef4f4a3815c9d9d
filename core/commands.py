"""What the management commands that act as a named portal user share: the user lookup, the verbs dispatch, and
service errors shown as CommandError (a clear line and exit status 1, no traceback)."""

from __future__ import annotations

import contextlib

from django.core.management.base import BaseCommand, CommandError

from core.errors import SHOWN_ERRORS, error_text
from core.models import User
from core.roles import Action


@contextlib.contextmanager
def errors_as_command_errors():
    try:
        yield
    except SHOWN_ERRORS as exc:
        raise CommandError(error_text(exc)) from exc


def acting_user(username: str) -> User:
    """The active tenant user a command acts as; whatever it may do is then decided by the services, as for the
    API."""
    user = User.objects.select_related("tenant").filter(username=username, is_active=True).first()
    if user is None or user.tenant_id is None:
        raise CommandError(f"No active tenant user {username!r}.")
    return user


def restricted_row(model, user, pk, action=Action.VIEW, *, what: str):
    """The row `pk` of `model` if `user` may act on it; a row they may not is told apart from none no more than
    the API does (404)."""
    row = model.objects.restrict(user, action).filter(pk=pk).first()
    if row is None:
        raise CommandError(f"No {what} {pk}.")
    return row


class VerbCommand(BaseCommand):
    """`manage.py <command> <verb> --user NAME ...`: each verb is a `do_<verb>(user, options)` method (a dash in the
    verb is an underscore in the method), run as the named user with service errors as CommandError."""

    verbs: tuple[str, ...] = ()

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        for verb in self.verbs:
            p = sub.add_parser(verb)
            p.add_argument("--user", required=True)
            self.add_verb_arguments(verb, p)

    def add_verb_arguments(self, verb: str, parser) -> None:
        """The verb's own arguments, besides --user."""

    def check_user(self, user: User) -> None:
        """Refuse the acting user (CommandError) before any verb runs; any user by default."""

    def handle(self, *args, verb, **options):
        user = acting_user(options["user"])
        self.check_user(user)
        with errors_as_command_errors():
            getattr(self, f"do_{verb.replace('-', '_')}")(user, options)


class JobCommand(VerbCommand):
    """A verb command over one kind of job: `show ID` prints a row the user may see, `list --state` narrows."""

    job_model = None
    noun = ""

    def show(self, job) -> None:
        raise NotImplementedError

    def do_show(self, user, options):
        self.show(restricted_row(self.job_model, user, options["id"], what=self.noun))

    @staticmethod
    def listed(jobs, options):
        return jobs.filter(state=options["state"]) if options.get("state") else jobs
