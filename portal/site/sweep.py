"""The orphan sweep over every tenant: for each tenant with AWS access and each of its regions, with that tenant's
own credentials only, the sweep each job kind declares (`JobKind.sweep`: `migrations_app.sweep`, `exports.sweep`)."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.utils import timezone

from adapters.aws import client as aws
from core.errors import PortalError
from core.jobs.kinds import kinds
from core.models import Tenant
from core.peers import aws_credentials
from core.sweep import Removal, SweepPass
from environments.models import Region

logger = logging.getLogger("portal.sweep")


def sweeps() -> list:
    return [run for run in (kind.sweep_function() for kind in kinds()) if run is not None]


def orphan_sweep(*, dry_run: bool = False, min_age_seconds: float | None = None,
                 now: datetime.datetime | None = None) -> list[Removal]:
    now = now or timezone.now()
    min_age = settings.ORPHAN_SWEEP_MIN_AGE_SECONDS if min_age_seconds is None else min_age_seconds
    cutoff = now - datetime.timedelta(seconds=min_age)
    removals: list[Removal] = []
    runs = sweeps()
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        try:
            credentials = aws_credentials(tenant)
        except PortalError:
            continue  # no AWS access: nothing the portal could have created there, nothing it may touch
        for code in Region.objects.filter(tenant=tenant).order_by("code").values_list("code", flat=True):
            sweep = SweepPass(tenant, code, credentials, now, cutoff, dry_run)
            for run in runs:
                try:
                    run(sweep)
                except (aws.AwsError, PortalError) as exc:
                    # One tenant's refusal (keys revoked, say) must not stop the others.
                    logger.warning("sweep of %s in %s (%s) stopped: %s", tenant, code, run.__name__, exc)
                    sweep.removals.append(Removal("pass", run.__name__, code, "", "listing failed", False,
                                                  getattr(exc, "message", str(exc))))
            removals += sweep.removals
    return removals
