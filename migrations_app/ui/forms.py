from django import forms

from migrations_app.choices import SUPPORTED_INSTANCE_TYPES, LicenseType, OperatingSystem
from migrations_app.requests import MigrationTarget


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
    license_type = forms.ChoiceField(
        required=False, label="Licence",
        choices=[("", "Default: AWS license included for Windows, BYOL for Linux"), *LicenseType.choices],
        help_text="Windows Server: license included (billed by AWS) or your own licence. Linux: your own only.")
    power_off = forms.BooleanField(required=False, label="Power the VM off before exporting it")

    def __init__(self, *args, environment, vms, **kwargs):
        super().__init__(*args, **kwargs)
        self.environment = environment
        self.fields["vm"].choices = [(vm.moref, f"{vm.name} ({vm.power_state}, {len(vm.disks)} disk(s))")
                                     for vm in vms]
        self.fields["operating_system"].choices = OperatingSystem.choices
        self.fields["instance_type"].choices = [(t, t) for t in SUPPORTED_INSTANCE_TYPES]
        self.fields["subnet"].choices = [(s.pk, f"{s.subnet_id} {s.cidr_block} {s.availability_zone} {s.name}")
                                         for s in environment.subnets.all()]
        self.fields["security_group"].choices = [(g.pk, str(g)) for g in environment.security_groups.all()]
        self.fields["key_pair"].choices = [("", "none")] + [(k.pk, k.name) for k in environment.key_pairs.all()]

    def target(self) -> MigrationTarget:
        data = self.cleaned_data
        return MigrationTarget(
            vm_moref=data["vm"], environment_id=self.environment.pk, operating_system=data["operating_system"],
            instance_type=data["instance_type"], subnet_id=data["subnet"], security_group_id=data["security_group"],
            key_pair_id=data["key_pair"], private_ip=data["private_ip"], power_off=data["power_off"],
            license_type=data["license_type"])


class MigrateDialogForm(MigrateForm):
    """The dialog of the vCenter VMs page: the environment is chosen too, among those the user may migrate into;
    the subnet, security group and key pair lists follow it."""

    environment = forms.TypedChoiceField(coerce=int, label="Environment")
    field_order = ["vm", "environment"]

    def __init__(self, *args, environments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [(e.pk, f"{e.region.code} / {e.name}") for e in environments]


class ConsentForm(forms.Form):
    consent = forms.BooleanField(label="I agree that the portal may create the above roles on my behalf",
                                 error_messages={"required": "Tick the box to agree before the portal changes "
                                                             "roles in your AWS account."})
