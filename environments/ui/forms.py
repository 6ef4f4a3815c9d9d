from django import forms

from environments.choices import EnvironmentRole
from portal.core.models import TenantGroup, User
from portal.core.roles import Action, TenantRole


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
