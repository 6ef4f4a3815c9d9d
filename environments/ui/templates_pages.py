"""Launch templates on the environment's Templates tab: owners (and administrators) create, edit and delete them.
The same `template_*` services as the API; a template's choices come only from its own environment."""

from django import forms
from django.shortcuts import render
from django.urls import reverse

from core.forms import submit
from core.pages import page
from core.querysets import Need
from core.roles import Action
from environments import services
from environments.models import Environment, Template
from environments.ui.views import confirm_delete, environment_tabs

MANAGE_TEMPLATES = Need(Action.MANAGE, of=Template)
TEMPLATE_RELATED = ("environment__region",)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ["name", "description", "ami_id", "instance_type", "subnet", "security_group", "key_pair"]
        labels = {"ami_id": "AMI id"}

    def __init__(self, *args, environment, **kwargs):
        super().__init__(*args, **kwargs)
        # The form's own model checks (choices of the template's environment) need to know the environment; the
        # service builds and saves the row itself.
        self.instance.environment, self.instance.tenant_id = environment, environment.tenant_id
        self.fields["subnet"].queryset = environment.subnets.all()
        self.fields["security_group"].queryset = environment.security_groups.all()
        self.fields["key_pair"].queryset = environment.key_pairs.all()

    def validate_unique(self):
        # Uniqueness is the service's to decide (a 409 there, shown on the form), not a second copy here.
        pass


def _data(form) -> dict:
    return {name: form.cleaned_data[name] for name in TemplateForm.Meta.fields}


def _page(request, environment, template, context):
    return render(request, template, {"environment": environment,
                                      "tabs": environment_tabs(request, environment, "templates"), **context})


def _tab(environment) -> str:
    return reverse("ui:environment-templates", args=[environment.pk])


@page(get=MANAGE_TEMPLATES, post=MANAGE_TEMPLATES, row=Environment, related=("region",))
def template_create(request, environment):
    form = TemplateForm(request.POST or None, environment=environment)
    done = submit(request, lambda: services.template_create(actor=request.user, environment=environment,
                                                            data=_data(form)),
                  form=form, success=lambda template: f"Template {template.name} created.", to=_tab(environment))
    return done.response or _page(request, environment, "environments/template_form.html", {
        "form": form, "heading": "New launch template", "cancel_url": _tab(environment)})


@page(get=MANAGE_TEMPLATES, post=MANAGE_TEMPLATES, row=Template, related=TEMPLATE_RELATED)
def template_edit(request, template):
    environment = template.environment
    form = TemplateForm(request.POST or None, instance=template, environment=environment)

    def save():
        # The service gets the row as stored: validating the form has already written the new values onto `template`.
        stored = Template.objects.restrict(request.user, Action.MANAGE).get(pk=template.pk)
        return services.template_update(actor=request.user, template=stored, data=_data(form))

    done = submit(request, save, form=form, success=lambda _: f"Template {template.name} saved.", to=_tab(environment))
    return done.response or _page(request, environment, "environments/template_form.html", {
        "form": form, "heading": f"Edit template {template.name}", "cancel_url": _tab(environment)})


@page(get=MANAGE_TEMPLATES, post=MANAGE_TEMPLATES, row=Template, related=TEMPLATE_RELATED)
def template_delete(request, template):
    tab = _tab(template.environment)
    return confirm_delete(
        request, lambda: services.template_delete(actor=request.user, template=template),
        what=f"template {template.name}", success=f"Template {template.name} deleted.", to=tab, cancel_url=tab,
        consequence="Instances launched from it keep running; its image is not deleted.")
