"""What a job kind declares, and the registry every generic module reads (task history, metrics, connector status,
orphan sweep, notifications, the reconciler): a new kind is one `register()` call in its app's `ready()`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from core.errors import InvariantViolation


@dataclass(frozen=True)
class JobKind:
    """One kind of durable job.

    name: the kind's word in audit actions, tick names, metrics and notifications ("migration").
    model: the job model (a `DurableJob`).
    runner: dotted path of its `runner.StepRunner` subclass (loaded lazily: the core never imports an app).
    transitions: state -> the states it may move to (the only moves `transition` allows).
    queued: the state a job waits in before admission.
    active: states that hold one of the kind's admission slots.
    workable: states a worker drives.
    terminal: states that end the job (its lease and wake-up are dropped, its notification sent).
    failed: the states audited as failures.
    failing: where a failed job releases what it held before it ends in `failed[-1]`; "" when a kind releases
        inline and fails at once.
    cancelling: the state a cancel moves a running job to ("" when it has none).
    admission: its `admission.Admission`, or the dotted path of one to instantiate (None: admitted at once,
        unlimited).
    settings_prefix: its settings are `<prefix>_LEASE_SECONDS`, `_TICK_BUDGET_SECONDS`, `_POLL_SECONDS`,
        `_MAX_ATTEMPTS`, `_RETRY_BASE_SECONDS`, `_RETRY_MAX_SECONDS`, `_INLINE_WAIT_SECONDS`, each falling back to
        `JOB_<name>`.
    label: how pages and notifications name it ("VM-to-EC2 migration").
    order: where it comes among the kinds (history filters, metrics, notification events, sweeps).
    history: whether it shows in the seven-day task history.
    describe: the fields that say what a job worked on, first non-blank wins (the history's summary column).
    retained: terminal states the history's retention never deletes (the job's row still stands for something
        that exists, such as an available backup's image).
    retained_if: rows the retention keeps whatever their age and state (None: none).
    bytes_moved: direction -> the aggregate of the bytes its jobs moved that way (portal_job_bytes).
    connector_work: whether the connector status counts its jobs as the tenant's work.
    sweep: dotted path of its orphan sweep, `f(sweep: core.sweep.SweepPass)` ("": it has none).
    notify: terminal state -> the outcome its notification announces, as the event "<name>.<outcome>" (labelled
        "<Name> <outcome>").
    """

    name: str
    model: type
    runner: str
    transitions: dict
    queued: str
    active: frozenset
    workable: frozenset
    terminal: frozenset
    failed: tuple
    failing: str = ""
    cancelling: str = ""
    admission: object = None  # a dotted path or an `Admission`
    settings_prefix: str = "JOB"
    label: str = ""
    order: int = 100
    history: bool = True
    describe: tuple = ()
    retained: frozenset = frozenset()
    retained_if: object = None  # a Q
    bytes_moved: Mapping = field(default_factory=dict)
    connector_work: bool = False
    sweep: str = ""
    notify: Mapping = field(default_factory=dict)

    def setting(self, name: str):
        value = getattr(settings, f"{self.settings_prefix}_{name}", None)
        return getattr(settings, f"JOB_{name}") if value is None else value

    def runner_class(self):
        return import_string(self.runner)

    def admission_policy(self):
        if isinstance(self.admission, str):
            return import_string(self.admission)()
        return self.admission

    def sweep_function(self):
        return import_string(self.sweep) if self.sweep else None

    @property
    def live(self) -> frozenset:
        """States in which the job may still act on its resource (bench/faults.py drives a job while it is)."""
        return self.workable | {self.queued}

    @property
    def records_cancel_requests(self) -> bool:
        """Whether its rows say a cancel was asked for (`cancel_requested`): admission then passes them over."""
        return any(field.name == "cancel_requested" for field in self.model._meta.fields)

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(str(state) for state in self.transitions)

    @property
    def expirable(self) -> frozenset:
        """The states in which the history's retention may delete a job: no worker drives it any more."""
        return self.terminal - self.retained

    def events(self) -> dict[str, str]:
        """Its notification events (value -> label), as webhooks and preferences store them."""
        return {f"{self.name}.{outcome}": f"{self.name.capitalize()} {outcome}"
                for outcome in dict.fromkeys(self.notify.values())}


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    known = _KINDS.get(kind.name)
    if known is not None and known.model is not kind.model:
        raise InvariantViolation(f"job kind {kind.name!r} is registered twice")
    unknown = {to for targets in kind.transitions.values() for to in targets} - set(kind.transitions)
    if unknown:
        raise InvariantViolation(f"job kind {kind.name!r} moves to undeclared states {sorted(unknown)}")
    if not (set(kind.notify) | kind.retained) <= kind.terminal:
        raise InvariantViolation(f"job kind {kind.name!r} notifies or retains states that do not end it")
    _KINDS[kind.name] = kind
    kind.model.job_kind = kind
    return kind


def kind(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise InvariantViolation(f"no job kind {name!r} is registered") from None


def kinds() -> list[JobKind]:
    """Every registered kind, in their declared order (the order pages, metrics and events list them in)."""
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.name))


def kind_of(job) -> JobKind:
    return type(job).job_kind
