"""Launch templates from the command line, acting as a named portal user through the same services as the API
(launching one and making one from a backup are `backups launch` and `backups make-template`):

    manage.py launch_templates list --user olivia [--environment 3]
    manage.py launch_templates create --user olivia --environment 3 --name web --ami ami-0123456789abcdef0 \\
        --instance-type t3.micro --subnet 5 --security-group 7 [--key-pair 2] [--description "..."]
    manage.py launch_templates delete --user olivia 9
"""

from django.core.management.base import CommandError

from core.commands import VerbCommand
from core.roles import Action
from environments import services
from environments.models import Environment, KeyPair, SecurityGroup, Subnet, Template


class Command(VerbCommand):
    help = __doc__.splitlines()[0]
    verbs = ("list", "create", "delete")

    def add_verb_arguments(self, verb, p):
        if verb == "list":
            p.add_argument("--environment", type=int)
        if verb == "create":
            p.add_argument("--environment", type=int, required=True)
            p.add_argument("--name", required=True)
            p.add_argument("--description", default="")
            p.add_argument("--ami", required=True)
            p.add_argument("--instance-type", required=True)
            p.add_argument("--subnet", type=int, required=True)
            p.add_argument("--security-group", type=int, required=True)
            p.add_argument("--key-pair", type=int)
        if verb == "delete":
            p.add_argument("id", type=int)

    def check_user(self, user):
        if not user.tenant.is_active:
            raise CommandError(f"No active tenant user {user.get_username()!r}.")

    def do_list(self, user, options):
        templates = Template.objects.restrict(user, Action.VIEW).select_related("environment__region")
        if options["environment"]:
            templates = templates.filter(environment_id=options["environment"])
        for t in templates:
            self.stdout.write(f"{t.pk:6} {t.environment} {t.name:24} {t.ami_id} {t.instance_type}")

    def do_create(self, user, options):
        environment = Environment.objects.restrict(user, Action.MANAGE).filter(pk=options["environment"]).first()
        if environment is None:
            raise CommandError(f"No environment {options['environment']} you may manage templates of.")

        def pick(model, pk):
            row = model.objects.filter(environment=environment, pk=pk).first() if pk else None
            if pk and row is None:
                raise CommandError(f"No {model._meta.verbose_name} {pk} in {environment}.")
            return row

        template = services.template_create(actor=user, environment=environment, data={
            "name": options["name"], "description": options["description"], "ami_id": options["ami"],
            "instance_type": options["instance_type"], "subnet": pick(Subnet, options["subnet"]),
            "security_group": pick(SecurityGroup, options["security_group"]),
            "key_pair": pick(KeyPair, options["key_pair"])})
        self.stdout.write(f"template {template.pk} {template.name} created in {environment}")

    def do_delete(self, user, options):
        template = Template.objects.restrict(user, Action.MANAGE).filter(pk=options["id"]).first()
        if template is None:
            raise CommandError(f"No template {options['id']} you may manage.")
        services.template_delete(actor=user, template=template)
        self.stdout.write(f"template {options['id']} deleted")
