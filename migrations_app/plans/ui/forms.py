from django import forms

from core.roles import Action
from environments.models import Environment, SecurityGroup, Subnet


class PlanCreateForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.none())
    name = forms.CharField(max_length=100)
    subnet = forms.ModelChoiceField(queryset=Subnet.objects.none(), required=False,
                                    label="Default subnet (of the plan's environment)")
    security_group = forms.ModelChoiceField(queryset=SecurityGroup.objects.none(), required=False,
                                            label="Default security group")
    power_off = forms.BooleanField(required=False, label="Power each VM off before its export")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        environments = Environment.objects.restrict(user, Action.OPERATE)
        self.fields["environment"].queryset = environments.order_by("name")
        self.fields["subnet"].queryset = Subnet.objects.filter(environment__in=environments).order_by("subnet_id")
        self.fields["security_group"].queryset = SecurityGroup.objects.filter(
            environment__in=environments).order_by("name")


class AddVmsForm(forms.Form):
    vms = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="VMs (names or morefs, one a line)")
    wave = forms.IntegerField(min_value=1, max_value=99, initial=1)


class ScheduleForm(forms.Form):
    start_at = forms.DateTimeField(required=False, label="Start at (your organisation's time zone; blank: now)",
                                   widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                   input_formats=["%Y-%m-%dT%H:%M"])


class CsvForm(forms.Form):
    file = forms.FileField(label="CSV file")


class WaveForm(forms.Form):
    number = forms.IntegerField(min_value=1, max_value=99, label="Wave")
    start_at = forms.DateTimeField(required=False, label="Starts at (blank: when the previous wave has completed)",
                                   widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                   input_formats=["%Y-%m-%dT%H:%M"])
