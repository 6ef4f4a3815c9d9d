"""The migration kind, as the job engine (portal.core.jobs) knows it: its states, its steps (pipeline.py), its
limits (admission.py) and its release rules (pipeline.MigrationRunner.release)."""

from migrations_app.choices import ACTIVE, ALLOWED_TRANSITIONS, TERMINAL, WORKABLE, MigrationState
from migrations_app.models import MigrationTask
from portal.core.jobs.kinds import JobKind

S = MigrationState

MIGRATION = JobKind(
    name="migration", model=MigrationTask, label="VM-to-EC2 migration",
    runner="migrations_app.pipeline.MigrationRunner", admission="migrations_app.admission.FairShare",
    transitions=ALLOWED_TRANSITIONS, queued=S.QUEUED, active=ACTIVE, workable=WORKABLE, terminal=TERMINAL,
    failed=(S.FAILED,), failing=S.FAILING, cancelling=S.CANCELLING, settings_prefix="MIGRATION",
    notify=frozenset({S.COMPLETED, S.FAILED}),
)
