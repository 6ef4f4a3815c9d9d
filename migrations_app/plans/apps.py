from django.apps import AppConfig


class PlansConfig(AppConfig):
    """Migration plans: many VMs migrated as one plan, in ordered waves, started now or at a scheduled time."""

    name = "migrations_app.plans"
    label = "plans"
    verbose_name = "Migration plans"

    def ready(self):
        from core.jobs.kinds import register
        from migrations_app.plans.job import PLAN_RUN

        register(PLAN_RUN)
