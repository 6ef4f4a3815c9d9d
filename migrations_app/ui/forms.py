from django import forms

from migrations_app.choices import (
    SUPPORTED_INSTANCE_TYPES,
    LicenseType,
    OperatingSystem,
    boot_mode_problem,
    instance_type_problem,
)
from migrations_app.guest_os import operating_system_for, readable_guest_os, suggest_instance_type
from migrations_app.preflight import STALE, boot_mode_of
from migrations_app.requests import MigrationTarget


def _gone(label: str, present: bool) -> str:
    return label if present else f"{label} ({STALE})"


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

    def __init__(self, *args, environment, vms, view=None, **kwargs):
        """`view`: the environment as AWS holds it now (preflight.aws_view); what the last sync knows but AWS no
        longer has is marked in the lists (and refused by the services). None: AWS could not be asked."""
        super().__init__(*args, **kwargs)
        self.environment = environment
        self.fields["vm"].choices = [(vm.moref, f"{vm.name} ({vm.power_state}, {len(vm.disks)} disk(s))")
                                     for vm in vms]
        # No system is chosen for the user: a wrong one fails the import long after the dialog has closed.
        self.fields["operating_system"].choices = [("", "Choose the VM's operating system"), *OperatingSystem.choices]
        self.fields["instance_type"].choices = [(t, t) for t in SUPPORTED_INSTANCE_TYPES]
        self.fields["subnet"].choices = [
            (s.pk, _gone(f"{s.subnet_id} {s.cidr_block} {s.availability_zone} {s.name}".strip(),
                         view is None or s.subnet_id in view.subnet_ids)) for s in environment.subnets.all()]
        groups = list(environment.security_groups.all())
        # The VPC's "default" group is never chosen for the user: it lets in whatever else is in it.
        self.fields["security_group"].choices = [("", "Choose a security group"), *(
            (g.pk, _gone(str(g), view is None or g.group_id in view.security_group_ids)) for g in groups)]
        own = [g for g in groups if g.name != "default" and (view is None or g.group_id in view.security_group_ids)]
        if len(own) == 1 and not self.initial.get("security_group"):
            self.initial["security_group"] = own[0].pk
        self.fields["key_pair"].choices = [("", "none")] + [
            (k.pk, _gone(k.name, view is None or k.name in view.key_pair_names)) for k in environment.key_pairs.all()]
        answers = self.data if self.is_bound else self.initial
        # Unanswered, the select shows its first VM: the suggestions are that VM's.
        vm = next((vm for vm in vms if vm.moref == answers.get("vm")), None if self.is_bound else
                  next(iter(vms), None))
        self._prefill(vm, answers)

    def _prefill(self, vm, answers) -> None:
        """The operating system and instance type the VM suggests, unless the user already answered them; each
        field says where its value comes from, so a guess reads as one."""
        if vm is None:
            return
        readable = readable_guest_os(vm.guest_id, vm.guest_full_name)
        guessed = operating_system_for(vm.guest_id)
        chosen = answers.get("operating_system") or guessed
        if guessed:
            if not answers.get("operating_system"):
                self.initial["operating_system"] = guessed
            self.fields["operating_system"].help_text = (
                f"Pre-filled from the VM's guest OS, {readable}: {OperatingSystem(guessed).label}. Check the "
                "release.")
        else:
            self.fields["operating_system"].help_text = f"The VM's guest OS is {readable}; choose the matching one."
        boot_mode = boot_mode_of(vm)
        self._offer_instance_types(chosen, boot_mode)
        suggestion = suggest_instance_type(num_cpu=vm.num_cpu, memory_mb=vm.memory_mb, operating_system=chosen,
                                           boot_mode=boot_mode)
        if suggestion is not None:
            if not answers.get("instance_type"):
                self.initial["instance_type"] = suggestion.instance_type
            self.fields["instance_type"].help_text = suggestion.text

    def _offer_instance_types(self, operating_system: str | None, boot_mode: str) -> None:
        """Only the types the chosen system can run after import: a Nitro type needs ENA, which a Linux import does
        not get, and a UEFI VM boots only on Nitro. A type already submitted stays a valid choice, so the refusal
        says why beside it; when no type fits, all stay, each refused with its reason."""
        offered = [t for t in SUPPORTED_INSTANCE_TYPES if boot_mode_problem(boot_mode, t) is None and (
            operating_system not in OperatingSystem.values or instance_type_problem(operating_system, t) is None)]
        if not offered:
            return
        submitted = self.data.get("instance_type") if self.is_bound else None
        if submitted in SUPPORTED_INSTANCE_TYPES and submitted not in offered:
            offered.append(submitted)
        self.fields["instance_type"].choices = [(t, t) for t in offered]

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
