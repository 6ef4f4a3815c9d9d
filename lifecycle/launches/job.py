"""The launch kind, as the job engine (core.jobs) knows it: its states, its step and release rule
(worker.LaunchRunner) and its limit per region."""

from core.jobs.admission import PerScopeLimit
from core.jobs.kinds import JobKind
from lifecycle.launches.models import TRANSITIONS, LaunchState, LaunchTask

S = LaunchState


# At most LAUNCH_MAX_ACTIVE_PER_REGION launches at once in a region, oldest first (RunInstances is throttled
# per account and region).
PER_REGION_LAUNCHES = PerScopeLimit(kind_name="launch", scope_field="environment__region_id", started=S.LAUNCHING,
                                    setting_name="LAUNCH_MAX_ACTIVE_PER_REGION")


LAUNCH = JobKind(
    name="launch", model=LaunchTask, label="launch from a template", runner="lifecycle.launches.worker.LaunchRunner",
    admission=PER_REGION_LAUNCHES, transitions=TRANSITIONS, queued=S.QUEUED,
    active=frozenset({S.LAUNCHING}), workable=frozenset({S.LAUNCHING}), terminal=frozenset({S.COMPLETED, S.FAILED}),
    failed=(S.FAILED,), settings_prefix="ENVIRONMENT_JOB", order=40, describe=("instance_id", "image_id"),
    # No launch event was ever offered to webhooks or preferences: announcing launches is a decision of its own.
    notify={},
)
