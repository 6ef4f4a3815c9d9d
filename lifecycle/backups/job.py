"""The backup kind, as the job engine (core.jobs) knows it: its states, its steps and release rules
(worker.BackupRunner) and its limit per region."""

from core.jobs.admission import PerScopeLimit
from core.jobs.kinds import JobKind
from lifecycle.backups.choices import TRANSITIONS, BackupState
from lifecycle.backups.models import BackupTask

S = BackupState


# At most BACKUP_MAX_ACTIVE_PER_REGION images being created at once in a region, oldest first: CreateImage
# snapshots every volume, and EC2 throttles an account that snapshots too much at once.
PER_REGION_BACKUPS = PerScopeLimit(kind_name="backup", scope_field="environment__region_id", started=S.CREATING,
                                   setting_name="BACKUP_MAX_ACTIVE_PER_REGION")


BACKUP = JobKind(
    name="backup", model=BackupTask, label="AMI backup", runner="lifecycle.backups.worker.BackupRunner",
    admission=PER_REGION_BACKUPS, transitions=TRANSITIONS, queued=S.QUEUED,
    active=frozenset({S.CREATING}), workable=frozenset({S.CREATING, S.CANCELLING, S.DELETING}),
    # An available backup is finished (notified, no worker), though its schedule's retention may delete it later.
    terminal=frozenset({S.AVAILABLE, S.FAILED, S.CANCELLED, S.DELETED}), failed=(S.FAILED,),
    cancelling=S.CANCELLING, settings_prefix="ENVIRONMENT_JOB", order=30, describe=("image_id", "image_name"),
    # Its image still exists in AWS, and its schedule's retention deletes it through this row.
    retained=frozenset({S.AVAILABLE}), notify={S.AVAILABLE: "completed", S.FAILED: "failed"},
)
