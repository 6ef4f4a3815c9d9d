"""Forms of the backup, schedule, make-template and launch pages. Choices come only from `restrict()`."""

from django import forms

from core.roles import Action
from environments.models import KeyPair, SecurityGroup, Subnet
from lifecycle.backups.choices import MAX_KEEP_LAST


class BackupForm(forms.Form):
    reboot = forms.BooleanField(required=False, help_text="Reboot the instance so that the image is consistent "
                                                          "(by default it is taken without a reboot).")


class ScheduleForm(forms.Form):
    cron = forms.CharField(max_length=100, label="Cron (UTC)", initial="0 2 * * *",
                           help_text="minute hour day-of-month month day-of-week, e.g. 0 2 * * * (daily at 02:00)")
    keep_last = forms.IntegerField(min_value=1, max_value=MAX_KEEP_LAST, initial=7, label="Keep the last")
    reboot = forms.BooleanField(required=False)


class TemplateFromBackupForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False)
    instance_type = forms.CharField(max_length=32)
    subnet = forms.ModelChoiceField(queryset=Subnet.objects.none())
    security_group = forms.ModelChoiceField(queryset=SecurityGroup.objects.none())
    key_pair = forms.ModelChoiceField(queryset=KeyPair.objects.none(), required=False)

    def __init__(self, *args, actor, environment, **kwargs):
        super().__init__(*args, **kwargs)
        for name, model in (("subnet", Subnet), ("security_group", SecurityGroup), ("key_pair", KeyPair)):
            self.fields[name].queryset = model.objects.restrict(actor, Action.MANAGE).filter(environment=environment)
