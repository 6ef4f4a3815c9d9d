"""Launch templates on the environment's Templates tab: owners (and administrators) create, edit and delete them.
The same `template_*` services as the API; a template's choices come only from its own environment."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from environments import services
from environments.models import Environment, Template
from portal.core.errors import SHOWN_ERRORS, error_items
from portal.core.forms import add_service_error
from portal.core.querysets import Need
from portal.core.roles import Action

MANAGE_TEMPLATES = Need(Action.MANAGE, of=Template)


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


def _environment(request, pk) -> Environment:
    environment = Environment.objects.restrict(request.user, Action.MANAGE).select_related("region").filter(
        pk=pk).first()
    if environment is None:
        raise Http404()
    return environment


def _template(request, pk) -> Template:
    template = Template.objects.restrict(request.user, Action.MANAGE).select_related(
        "environment__region").filter(pk=pk).first()
    if template is None:
        raise Http404()
    return template


def _data(form) -> dict:
    return {name: form.cleaned_data[name] for name in TemplateForm.Meta.fields}


def _page(request, environment, template, context):
    from environments.ui.views import environment_tabs

    return render(request, template, {"environment": environment,
                                      "tabs": environment_tabs(request, environment, "templates"), **context})


def _tab(environment) -> str:
    return reverse("ui:environment-templates", args=[environment.pk])


@login_required
def template_create(request, pk):
    environment = _environment(request, pk)
    form = TemplateForm(request.POST or None, environment=environment)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_create(actor=request.user, environment=environment, data=_data(form))
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Template {template.name} created.")
            return redirect(_tab(environment))
    return _page(request, environment, "environments/template_form.html", {
        "form": form, "heading": "New launch template", "cancel_url": _tab(environment)})


@login_required
def template_edit(request, pk):
    template = _template(request, pk)
    environment = template.environment
    form = TemplateForm(request.POST or None, instance=template, environment=environment)
    if request.method == "POST" and form.is_valid():
        try:
            services.template_update(actor=request.user, template=_template(request, pk), data=_data(form))
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Template {template.name} saved.")
            return redirect(_tab(environment))
    return _page(request, environment, "environments/template_form.html", {
        "form": form, "heading": f"Edit template {template.name}", "cancel_url": _tab(environment)})


@login_required
def template_delete(request, pk):
    template = _template(request, pk)
    environment = template.environment
    error = None
    if request.method == "POST":
        try:
            services.template_delete(actor=request.user, template=template)
        except SHOWN_ERRORS as exc:
            error = " ".join(message for _, message in error_items(exc))
        else:
            messages.success(request, f"Template {template.name} deleted.")
            return redirect(_tab(environment))
    return render(request, "environments/confirm_delete.html", {
        "what": f"template {template.name}", "error": error, "cancel_url": _tab(environment),
        "consequence": "Instances launched from it keep running; its image is not deleted."})
