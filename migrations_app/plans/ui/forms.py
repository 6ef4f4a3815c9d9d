from django import forms

from core.roles import Action
from environments.models import Environment


class PlanCreateForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.none())
    name = forms.CharField(max_length=100)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = Environment.objects.restrict(user, Action.OPERATE).order_by("name")


class AddVmsForm(forms.Form):
    vms = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="VMs (names or morefs, one a line)")
    wave = forms.IntegerField(min_value=1, max_value=99, initial=1)


class ScheduleForm(forms.Form):
    start_at = forms.DateTimeField(required=False, label="Start at (your organisation's time zone; blank: now)",
                                   widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                   input_formats=["%Y-%m-%dT%H:%M"])


class CsvForm(forms.Form):
    file = forms.FileField(label="CSV file")
