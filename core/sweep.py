"""The orphan sweep's bookkeeping, shared by the apps that sweep: what one tenant-and-region pass may remove, and
one audit row per removal. The apps decide what is an orphan (`migrations_app.sweep`, `exports.sweep`); the site
layer runs them for every tenant (`portal.site.sweep`)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.aws import client as aws
from core.audit import audit_record
from core.audit_actions import AuditAction

logger = logging.getLogger("portal.sweep")

# Written on a completed job's results (a migration's instance, image and snapshots; an export's OVA) when the job
# completes. Whatever carries it is never an orphan, whether the job's row still exists or the history retention
# has deleted it: the sweep decides from the tag, not from the absence of a row.
RESULT_TAG = "portal-result"


@dataclass(frozen=True)
class Removal:
    kind: str  # multipart_upload | staged_object | import_task | image | snapshot | instance | export_task | ...
    resource: str
    region: str
    job: str  # "migration 12", "export 3"; the job is gone when its row was deleted
    reason: str
    removed: bool  # False in a dry run, or when AWS refused (then `problem` says why)
    problem: str = ""


@dataclass
class SweepPass:
    """One tenant in one region, with the tenant's own credentials. `cutoff`: only what was created, and belongs to
    a job that ended, before it is removed."""

    tenant: object
    region: str
    credentials: aws.AwsCredentials
    now: datetime.datetime
    cutoff: datetime.datetime
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)

    def old_enough(self, when: datetime.datetime | None) -> bool:
        """Unknown creation times count as old: the job's own end time has been checked by then."""
        return when is None or when <= self.cutoff

    def remove(self, *, kind: str, resource: str, job, job_label: str, reason: str, action: Callable,
               args: tuple = ()) -> bool:
        """Run `action(*args)` (unless dry) and write one `sweep.removed` audit row for it. AWS refusals are
        reported, not raised: the next resource and the next pass go on."""
        if self.dry_run:
            self.removals.append(Removal(kind, resource, self.region, job_label, reason, False))
            return False
        try:
            action(*args)
        except aws.AwsError as exc:
            logger.warning("sweep: %s %s of %s not removed: %s", kind, resource, job_label, exc)
            self.removals.append(Removal(kind, resource, self.region, job_label, reason, False, exc.message))
            return False
        self.removals.append(Removal(kind, resource, self.region, job_label, reason, True))
        audit_record(actor=None, action=AuditAction.SWEEP_REMOVED, obj=job if job is not None else self.tenant,
                     tenant=self.tenant, detail={"kind": kind, "resource": resource, "region": self.region,
                                                 "job": job_label, "reason": reason})
        return True
