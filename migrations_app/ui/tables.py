"""The VM-to-EC2 migrations table (django-tables2): sortable and paged, its rows refreshed by htmx polling."""

import django_tables2 as tables
from django.db.models import F

from migrations_app.models import MigrationTask


def _then_newest(field: str):
    """Ordering by `field`, ties newest first: the database pages the rows, so equal values need a fixed order for
    no row to show on two pages or on none."""

    def order(table, queryset, is_descending):
        return queryset.order_by(F(field).desc() if is_descending else F(field).asc(), "-created_at", "-id"), True

    return order


class MigrationTable(tables.Table):
    pk = tables.Column(verbose_name="Task", attrs={"th": {"scope": "col"}})
    vm_name = tables.Column(verbose_name="VM")
    instance_id = tables.TemplateColumn(template_name="migrations_app/_cell_instance.html", verbose_name="Instance",
                                        order_by=("instance_id",))
    state = tables.TemplateColumn(template_name="migrations_app/_cell_state.html", order_by=("state",))
    progress = tables.TemplateColumn(template_name="migrations_app/_cell_progress.html", orderable=False,
                                     verbose_name="Progress")
    status_message = tables.Column(verbose_name="Status")
    created_by = tables.Column(accessor="created_by__username", verbose_name="Started by")
    created_at = tables.DateTimeColumn(verbose_name="Started at", format="Y-m-d H:i:s")
    actions = tables.TemplateColumn(template_name="migrations_app/_cell_actions.html", orderable=False,
                                    verbose_name="Actions")

    order_vm_name = _then_newest("vm_name")
    order_instance_id = _then_newest("instance_id")
    order_state = _then_newest("state")
    order_status_message = _then_newest("status_message")
    order_created_by = _then_newest("created_by__username")
    order_created_at = _then_newest("created_at")

    class Meta:
        model = MigrationTask
        fields = ("pk", "vm_name", "instance_id", "state", "progress", "status_message", "created_by", "created_at")
        empty_text = "No migrations in the last seven days."
        attrs = {"class": "striped migrations"}
        row_attrs = {"id": lambda record: f"migration-{record.pk}", "data-state": lambda record: record.state}
