from django import forms

from environments.choices import EnvironmentRole
from portal.models import TenantGroup, User
from portal.roles import Action, TenantRole


class GrantForm(forms.Form):
    """Grant a user or a group a role on one environment. Choices come only from the actor's tenant."""

    principal = forms.ChoiceField(label="User or group")
    role = forms.ChoiceField(choices=EnvironmentRole.choices)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        users = User.objects.restrict(actor, Action.ADMIN).filter(role=TenantRole.USER, is_active=True)
        groups = TenantGroup.objects.restrict(actor, Action.ADMIN)
        self.fields["principal"].choices = [("", "---")] + [
            (f"user:{u.pk}", f"User {u.username}") for u in users
        ] + [(f"group:{g.pk}", f"Group {g.display_name}") for g in groups]

    def cleaned_principal(self):
        kind, pk = self.cleaned_data["principal"].split(":")
        model = User if kind == "user" else TenantGroup
        return model.objects.restrict(self.actor, Action.ADMIN).get(pk=pk)


class MigrateForm(forms.Form):
    """Migrate one vCenter VM into one environment. Every choice comes from that environment (and the VM list
    from the tenant's vCenter); the services check everything again."""

    vm = forms.ChoiceField(label="Virtual machine")
    operating_system = forms.ChoiceField(label="Operating system")
    instance_type = forms.ChoiceField()
    subnet = forms.TypedChoiceField(coerce=int)
    security_group = forms.TypedChoiceField(coerce=int)
    key_pair = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    private_ip = forms.GenericIPAddressField(protocol="IPv4", required=False, label="Private IP (optional)")
    power_off = forms.BooleanField(required=False, label="Power the VM off before exporting it")

    def __init__(self, *args, environment, vms, **kwargs):
        from migrations_app.choices import SUPPORTED_INSTANCE_TYPES, OperatingSystem

        super().__init__(*args, **kwargs)
        self.fields["vm"].choices = [(vm.moref, f"{vm.name} ({vm.power_state}, {len(vm.disks)} disk(s))")
                                     for vm in vms]
        self.fields["operating_system"].choices = OperatingSystem.choices
        self.fields["instance_type"].choices = [(t, t) for t in SUPPORTED_INSTANCE_TYPES]
        self.fields["subnet"].choices = [(s.pk, f"{s.subnet_id} {s.cidr_block} {s.availability_zone} {s.name}")
                                         for s in environment.subnets.all()]
        self.fields["security_group"].choices = [(g.pk, str(g)) for g in environment.security_groups.all()]
        self.fields["key_pair"].choices = [("", "none")] + [(k.pk, k.name) for k in environment.key_pairs.all()]
