"""The export kind, as the job engine (core.jobs) knows it: its states, its steps and release rules
(pipeline.ExportRunner) and its limit (AWS's export tasks in progress per region, PER_REGION_EXPORTS)."""

from django.db.models import Q, Sum

from core.jobs.admission import PerScopeLimit
from core.jobs.kinds import JobKind
from exports.choices import ACTIVE, ALLOWED_TRANSITIONS, TERMINAL, WORKABLE, ExportState
from exports.models import ExportTask

S = ExportState


# At most EXPORT_MAX_ACTIVE_PER_REGION exports in progress per region (AWS's limit of export tasks in the
# tenant's own account, so tenants never compete for it), first come, first served.
PER_REGION_EXPORTS = PerScopeLimit(kind_name="export", started=S.EXPORTING,
                                   setting_name="EXPORT_MAX_ACTIVE_PER_REGION")


EXPORT = JobKind(
    name="export", model=ExportTask, label="EC2-to-S3 export", runner="exports.pipeline.ExportRunner",
    admission=PER_REGION_EXPORTS, transitions=ALLOWED_TRANSITIONS, queued=S.QUEUED, active=ACTIVE,
    workable=WORKABLE, terminal=TERMINAL, failed=(S.FAILED,), cancelling=S.CANCELLING, settings_prefix="EXPORT",
    order=20, describe=("ec2_instance_id",),
    # Its file in S3, untagged when it completed before the tag existed (see MIGRATION's).
    retained_if=Q(state=S.COMPLETED, results_tagged=False) & ~Q(s3_key=""),
    # The size of a finished export only: AWS reports it once the file is written.
    bytes_moved={"exported": Sum("size_bytes", filter=Q(state=S.COMPLETED))}, connector_work=True,
    sweep="exports.sweep.export_sweep", notify={S.COMPLETED: "completed", S.FAILED: "failed"},
)
