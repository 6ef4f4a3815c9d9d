from django import forms

from exports.selectors import CONSENT_TEXT


class ExportConfigureForm(forms.Form):
    """The export name (given once) and the administrator's consent to create the buckets it names."""

    name = forms.CharField(max_length=63, label="Export name",
                           help_text="Buckets are named export-to-s3-<name>-<region>; the name is given once.")
    consent = forms.BooleanField(required=False, label=CONSENT_TEXT)


class ExportStartForm(forms.Form):
    s3_prefix = forms.CharField(max_length=200, required=False, label="S3 object prefix",
                                help_text="The OVA is written to <prefix><AWS export task id>.ova, e.g. vms/")


class ExportCancelForm(forms.Form):
    """The Continue step of Cancel Export Task: only a POST carrying it cancels."""

    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput, initial=True)
