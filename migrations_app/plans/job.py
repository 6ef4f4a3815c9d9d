"""The plan-run kind, as the job engine (core.jobs) knows it: it waits for its start time, then starts its waves
(runner.PlanRunner). It holds no slot of its own: each VM's migration goes through the migrations' admission."""

from core.jobs.kinds import JobKind
from migrations_app.plans.models import PLAN_RUN_TRANSITIONS, PlanRun, PlanRunState

R = PlanRunState

PLAN_RUN = JobKind(
    name="plan", model=PlanRun, label="migration plan run", runner="migrations_app.plans.runner.PlanRunner",
    transitions=PLAN_RUN_TRANSITIONS, queued=R.WAITING, active=frozenset(),
    workable=frozenset({R.WAITING, R.RUNNING}), terminal=frozenset({R.COMPLETED, R.FAILED, R.CANCELLED}),
    failed=(R.FAILED,), settings_prefix="PLAN", order=15, describe=("plan_name",),
    notify={R.COMPLETED: "completed", R.FAILED: "failed"},
)
