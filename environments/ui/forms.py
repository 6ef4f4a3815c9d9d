from django import forms

from core.models import TenantGroup, User
from core.roles import Action, TenantRole
from environments.choices import EnvironmentRole
from environments.models import Region
from environments.services import POWER_ACTIONS


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


class RegionForm(forms.Form):
    code = forms.CharField(label="AWS region code", max_length=32, help_text="For example eu-west-1.")
    name = forms.CharField(label="Display name (optional)", max_length=100, required=False)


class EnvironmentForm(forms.Form):
    """Create (with a region) or rename/re-point an environment; the services decide what may change."""

    region = forms.TypedChoiceField(coerce=int, label="Region")
    name = forms.CharField(max_length=64)
    vpc_id = forms.CharField(label="VPC id", max_length=21, required=False, help_text="For example vpc-0abc…")
    description = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, actor, environment=None, **kwargs):
        super().__init__(*args, **kwargs)
        if environment is None:
            self.fields["region"].choices = [(r.pk, r.code) for r in Region.objects.restrict(actor, Action.ADMIN)
                                             .order_by("code")]
        else:
            del self.fields["region"]
            if environment.is_default:
                # The default environment's name and VPC are fixed (environment_update refuses them).
                del self.fields["name"]
                del self.fields["vpc_id"]

    def chosen_region(self, actor):
        return Region.objects.restrict(actor, Action.ADMIN).get(pk=self.cleaned_data["region"])


class PowerForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a.title()) for a in POWER_ACTIONS])
