"""The EC2-to-S3 exports table (django-tables2): sortable and paged like the VM-to-EC2 one, its rows refreshed by
htmx polling while an export is live."""

import django_tables2 as tables
from django.db.models import F

from exports.models import ExportTask


def _then_newest(field: str):
    """Ordering by `field`, ties newest first: the database pages the rows, so equal values need a fixed order for
    no row to show on two pages or on none."""

    def order(table, queryset, is_descending):
        return queryset.order_by(F(field).desc() if is_descending else F(field).asc(), "-created_at", "-id"), True

    return order


class ExportTable(tables.Table):
    pk = tables.TemplateColumn(template_name="exports/_cell_task.html", verbose_name="Export task",
                               attrs={"th": {"scope": "col"}})
    ec2_instance_id = tables.TemplateColumn(template_name="exports/_cell_instance.html", verbose_name="Instance")
    state = tables.TemplateColumn(template_name="exports/_cell_state.html", order_by=("state",))
    progress = tables.TemplateColumn(template_name="exports/_cell_progress.html", verbose_name="Progress")
    created_by = tables.Column(accessor="created_by__username", verbose_name="Started by")
    created_at = tables.DateTimeColumn(verbose_name="Started at", format="Y-m-d H:i:s")
    s3_location = tables.TemplateColumn(template_name="exports/_cell_location.html", verbose_name="S3 location",
                                        orderable=False)
    actions = tables.TemplateColumn(template_name="exports/_cell_actions.html", orderable=False,
                                    verbose_name="Actions")

    order_ec2_instance_id = _then_newest("ec2_instance_id")
    order_state = _then_newest("state")
    order_progress = _then_newest("progress")
    order_created_by = _then_newest("created_by__username")
    order_created_at = _then_newest("created_at")

    class Meta:
        model = ExportTask
        fields = ("pk", "ec2_instance_id", "state", "progress", "created_by", "created_at")
        empty_text = "No exports in the last seven days."
        attrs = {"class": "striped exports"}
        row_attrs = {"id": lambda record: f"export-{record.pk}", "data-state": lambda record: record.state}
