"""Forms of the shell's administration pages (users, groups, connector and AWS settings) and the audit filters.
They only translate: the services validate and decide."""

import django_filters
from django import forms

from core.audit_actions import families
from core.models import AuditLog, AuditOutcome, AwsAuthMode, User
from core.roles import Action, TenantRole
from environments.models import Environment
from portal.site.history import HistoryFilters, history_states, history_types


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=TenantRole.choices)
    email = forms.EmailField(required=False)
    vcenter_principal = forms.CharField(label="vCenter identity", max_length=255, required=False,
                                        help_text=r"For example VSPHERE.LOCAL\alice: whose export privilege is checked.")
    password = forms.CharField(widget=forms.PasswordInput(render_value=True), required=False,
                               help_text="Leave empty to create the account without a password.")


class UserEditForm(forms.Form):
    role = forms.ChoiceField(choices=TenantRole.choices)
    email = forms.EmailField(required=False)
    vcenter_principal = forms.CharField(label="vCenter identity", max_length=255, required=False)
    is_active = forms.BooleanField(label="Active (untick to deactivate)", required=False)
    password = forms.CharField(label="New password (reset)", widget=forms.PasswordInput, required=False,
                               help_text="Leave empty to keep the current password.")


class GroupForm(forms.Form):
    name = forms.CharField(max_length=100)
    members = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["members"].choices = [(u.pk, u.username) for u in User.objects.restrict(actor, Action.ADMIN)
                                          .filter(is_active=True).order_by("username")]

    def member_users(self):
        return list(User.objects.restrict(self.actor, Action.ADMIN).filter(pk__in=self.cleaned_data["members"]))


class VCenterForm(forms.Form):
    url = forms.URLField(label="vCenter URL", max_length=500, assume_scheme="https",
                         help_text="For example https://vcenter.example.com/sdk, as the connector reaches it. The "
                                   "vCenter account is entered on the connector, for this URL; the portal never "
                                   "holds it.")
    verify_tls = forms.BooleanField(label="Validate vCenter's certificate", required=False)
    ca_certificate_pem = forms.CharField(label="CA certificate (PEM)", widget=forms.Textarea(attrs={"rows": 3}),
                                         required=False)
    thumbprint = forms.CharField(label="Certificate thumbprint", max_length=95, required=False,
                                 help_text="SHA-1 or SHA-256, colon-separated.")
    ignore_esx_certificate_errors = forms.BooleanField(
        label="Ignore ESX certificate errors", required=False,
        help_text="Warning: disk downloads are then not protected against interception. Only for ESX 4.1 hosts "
                  "whose certificates cannot be verified; the change is audited.")
    dns_suffixes = forms.CharField(label="DNS suffixes", max_length=500, required=False,
                                   help_text="Comma-separated, tried when an ESX host name does not resolve.")
    max_active_migrations_per_region = forms.IntegerField(label="Migrations at once per region", required=False,
                                                          min_value=1)
    connector_updating = forms.BooleanField(label="Connector updating (refuse new migrations)", required=False,
                                            help_text="Running migrations continue.")

    def changes(self, vcenter):
        data = dict(self.cleaned_data)
        if vcenter is not None:
            data = {k: v for k, v in data.items() if getattr(vcenter, k) != v}
        return data


class AwsAccountForm(forms.Form):
    account_id = forms.CharField(label="AWS account id", max_length=12, required=False)
    auth_mode = forms.ChoiceField(label="Access", choices=AwsAuthMode.choices)
    role_arn = forms.CharField(label="Role to assume (ARN)", max_length=2048, required=False)
    access_key_id = forms.CharField(label="Access key id", max_length=128, required=False)
    secret_access_key = forms.CharField(label="Secret access key", widget=forms.PasswordInput, required=False,
                                        help_text="Write-only; leave empty to keep the stored key.")

    def changes(self, account):
        data = dict(self.cleaned_data)
        if not data["secret_access_key"]:
            data.pop("secret_access_key")
        return {k: v for k, v in data.items() if getattr(account, k) != v}


# A filter value that stands for every action of a family ("migration.*").
_ANY_OF_FAMILY = ".*"


def _action_choices() -> list:
    """One option group per family of the vocabulary. Each group opens with the whole family, which the free-text
    filter this replaces allowed ("migration" found every migration row); options show the code the table and
    the CSV show."""
    return [(label, [(f"{family}{_ANY_OF_FAMILY}", f"Any ({family}{_ANY_OF_FAMILY})"),
                     *((action, f"{label} ({action})") for action, label in actions)])
            for family, label, actions in families()]


class AuditLogFilter(django_filters.FilterSet):
    actor_username = django_filters.CharFilter(label="Who", lookup_expr="icontains")
    action = django_filters.ChoiceFilter(label="Action", choices=_action_choices, empty_label="any",
                                         method="filter_action")
    outcome = django_filters.ChoiceFilter(label="Outcome", choices=AuditOutcome.choices, empty_label="any")
    since = django_filters.DateFilter(label="From (date)", field_name="created_at", lookup_expr="date__gte",
                                      widget=forms.DateInput(attrs={"type": "date"}))
    until = django_filters.DateFilter(label="To (date)", field_name="created_at", lookup_expr="date__lte",
                                      widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = AuditLog
        fields = ["actor_username", "action", "outcome", "since", "until"]

    def filter_action(self, queryset, name, value):
        if value.endswith(_ANY_OF_FAMILY):
            return queryset.filter(action__startswith=value.removesuffix("*"))
        return queryset.filter(action=value)


def _any(values) -> list[tuple[str, str]]:
    return [("", "any")] + [(value, value) for value in values]


class HistoryFilterForm(forms.Form):
    """The task history's filters. The history is a union of the kinds' tables, so it is filtered before the union
    (`portal.site.history.history_rows`), not by a FilterSet over the result."""

    type = forms.ChoiceField(label="Type", choices=lambda: _any(history_types()), required=False)
    environment = forms.ModelChoiceField(label="Environment", queryset=Environment.objects.none(), required=False,
                                         empty_label="any")
    user = forms.ModelChoiceField(label="Started by", queryset=User.objects.none(), required=False,
                                  empty_label="anyone", to_field_name="username")
    state = forms.ChoiceField(label="State", choices=lambda: _any(history_states()), required=False)
    since = forms.DateTimeField(label="From (UTC)", required=False, help_text="Default: seven days ago.",
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(label="Before (UTC)", required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = Environment.objects.restrict(actor, Action.VIEW).select_related(
            "region").order_by("region__code", "name")
        self.fields["user"].queryset = User.objects.restrict(actor, Action.VIEW).order_by("username")

    def filters(self) -> HistoryFilters:
        data = self.cleaned_data
        return HistoryFilters(type=data["type"] or None, state=data["state"] or None,
                              environment=data["environment"].pk if data["environment"] else None,
                              user=data["user"].pk if data["user"] else None,
                              since=data["since"], until=data["until"])
