"""Cron expressions of backup schedules: five fields (minute hour day month weekday), evaluated in UTC by
django-q2's scheduler through croniter."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter
from django.core.exceptions import ValidationError
from django.utils import timezone


def validate_cron(value: str) -> None:
    fields = (value or "").split()
    if len(fields) != 5:
        raise ValidationError("Give five cron fields: minute hour day-of-month month day-of-week (UTC), e.g. "
                              "\"0 2 * * *\" for every day at 02:00.", code="invalid_cron")
    try:
        valid = croniter.is_valid(" ".join(fields))
    except (ValueError, KeyError):  # some malformed ranges raise instead of answering False
        valid = False
    if not valid:
        raise ValidationError(f"\"{value}\" is not a valid cron expression.", code="invalid_cron")
    try:
        croniter(" ".join(fields), timezone.now()).get_next(datetime)
    except (ValueError, KeyError) as exc:  # well-formed but impossible, like 31 February
        raise ValidationError(f"\"{value}\" never runs.", code="invalid_cron") from exc
