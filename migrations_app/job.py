"""The migration kind, as the job engine (core.jobs) knows it: its states, its steps (pipeline.py), its
limits (admission.py) and its release rules (pipeline.MigrationRunner.release)."""

from django.db.models import Q, Sum

from core.jobs.kinds import JobKind
from migrations_app.choices import ACTIVE, ALLOWED_TRANSITIONS, TERMINAL, WORKABLE, MigrationState
from migrations_app.models import MigrationTask

S = MigrationState

MIGRATION = JobKind(
    name="migration", model=MigrationTask, label="VM-to-EC2 migration",
    runner="migrations_app.pipeline.MigrationRunner", admission="migrations_app.admission.FairShare",
    transitions=ALLOWED_TRANSITIONS, queued=S.QUEUED, active=ACTIVE, workable=WORKABLE, terminal=TERMINAL,
    failed=(S.FAILED,), failing=S.FAILING, cancelling=S.CANCELLING, settings_prefix="MIGRATION", order=10,
    describe=("vm_name",),
    # Its results in AWS, untagged when it completed before the tag existed (the orphan sweep tags them): without
    # the row or the tag, nothing would tell the sweep they are not orphans.
    retained_if=Q(state=S.COMPLETED, results_tagged=False) & (~Q(instance_id="") | ~Q(image_id="")),
    bytes_moved={"exported": Sum("bytes_exported"), "uploaded": Sum("bytes_uploaded")}, connector_work=True,
    sweep="migrations_app.sweep.migration_sweep", notify={S.COMPLETED: "completed", S.FAILED: "failed"},
)
