import django_tables2 as tables

from core.models import AuditLog, User


class AuditLogTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="When (UTC)", format="Y-m-d H:i:s")
    actor_username = tables.Column(verbose_name="Who", default="—")
    # The code, as the CSV and the API give it (a choices column would show the label); the label on hover.
    action = tables.TemplateColumn('<span title="{{ record.get_action_display }}">{{ record.action }}</span>',
                                   verbose_name="Action", order_by=("action",))
    object_repr = tables.TemplateColumn("{{ record.object_type }} {{ record.object_repr }}", verbose_name="Object",
                                        order_by=("object_type", "object_repr"))
    remote_addr = tables.Column(verbose_name="From", default="")

    class Meta:
        model = AuditLog
        fields = ("created_at", "actor_username", "action", "outcome", "object_repr", "remote_addr")
        empty_text = "Nothing recorded."


class UserTable(tables.Table):
    # Administrators edit there; auditors read the same page without its form.
    username = tables.TemplateColumn('<a href="{% url \'ui:user-edit\' record.pk %}">{{ record.username }}</a>')
    role = tables.Column(accessor="get_role_display", order_by=("role",))
    is_active = tables.BooleanColumn(verbose_name="Active")

    class Meta:
        model = User
        fields = ("username", "role", "email", "vcenter_principal", "is_active", "last_login")
        empty_text = "No users."


class HistoryTable(tables.Table):
    """Rows of `portal.site.history.history_rows` (dicts); ordered by the query, so columns do not sort."""

    h_created_at = tables.DateTimeColumn(verbose_name="Created (UTC)", format="Y-m-d H:i:s")
    h_type = tables.Column(verbose_name="Type")
    h_id = tables.Column(verbose_name="Id")
    h_environment = tables.Column(verbose_name="Environment")
    h_user = tables.Column(verbose_name="Started by")
    h_state = tables.Column(verbose_name="State")
    h_finished_at = tables.DateTimeColumn(verbose_name="Finished (UTC)", format="Y-m-d H:i:s", default="—")
    h_summary = tables.Column(verbose_name="What", default="")

    class Meta:
        orderable = False
        empty_text = "No tasks in this period."
