"""Sortable, paged tables of the environment pages (django-tables2)."""

import django_tables2 as tables

from environments.models import Environment, ImportedInstance, Template


class InstanceTable(tables.Table):
    instance_id = tables.LinkColumn("ui:instance", args=[tables.A("pk")], verbose_name="Instance")
    source_vm_name = tables.Column(verbose_name="Source VM")
    instance_type = tables.Column(verbose_name="Type")
    private_ip = tables.Column(verbose_name="Private IP")
    state = tables.Column()
    state_refreshed_at = tables.DateTimeColumn(verbose_name="State as of", format="Y-m-d H:i")

    class Meta:
        model = ImportedInstance
        fields = ("instance_id", "source_vm_name", "instance_type", "private_ip", "state", "state_refreshed_at")
        empty_text = "No imported instances yet."


class TemplateTable(tables.Table):
    launch = tables.TemplateColumn(
        '{% if record.pk in table.launchable %}<a role="button" class="outline launch" '
        'href="{% url \'ui:template-launch\' record.pk %}" aria-label="Launch an instance from {{ record.name }}">'
        'Launch</a>{% endif %}', orderable=False, verbose_name="Launch")
    actions = tables.TemplateColumn(
        '<a href="{% url \'ui:template-edit\' record.pk %}">Edit</a> · '
        '<a href="{% url \'ui:template-delete\' record.pk %}">Delete</a>', orderable=False, verbose_name="")

    class Meta:
        model = Template
        fields = ("name", "description", "ami_id", "instance_type", "subnet__subnet_id", "security_group__group_id")
        sequence = ("name", "launch", "...")
        empty_text = "No templates."

    def __init__(self, *args, launchable=frozenset(), **kwargs):
        self.launchable = launchable
        super().__init__(*args, **kwargs)


class EnvironmentTable(tables.Table):
    region = tables.Column(accessor="region__code", verbose_name="Region")
    name = tables.LinkColumn("ui:environment", args=[tables.A("pk")])
    vpc_id = tables.Column(verbose_name="VPC", default="default VPC")
    # The field's own name would read "Vpc cidr block": the acronyms as AWS writes them.
    vpc_cidr_block = tables.Column(verbose_name="VPC CIDR block", default="")
    last_synced_at = tables.DateTimeColumn(verbose_name="Last synced", format="Y-m-d H:i", default="never")

    class Meta:
        model = Environment
        fields = ("region", "name", "vpc_id", "vpc_cidr_block", "last_synced_at")
        empty_text = "No environments."
