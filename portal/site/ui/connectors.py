"""The connector page (administrators; auditors read it too): whether the tenant's agents are in contact, its
running and waiting work, and its connector agents: create one (its registration code is shown once), ask one to
rotate its key, revoke one (confirmed)."""

from django import forms
from django.shortcuts import render

from core.connectors import selectors, services
from core.connectors.models import Agent, agent_name_validator
from core.forms import Submitted, submit
from core.pages import one, page
from core.querysets import Need
from core.roles import Action
from portal.site.connectors import READ_CONNECTORS, connector_status

MANAGE_AGENTS = Need(Action.ADMIN, of=Agent)
REVOKE_AGENT = Need(Action.ADMIN)


class AgentForm(forms.Form):
    name = forms.CharField(max_length=63, validators=[agent_name_validator],
                           help_text="Lower-case letters, digits and hyphens, e.g. dc1-connector.")


@page(get=READ_CONNECTORS, post=MANAGE_AGENTS)
def connector(request):
    which = request.POST.get("form")
    form = AgentForm(request.POST if which == "add" else None, prefix="agent")
    done = Submitted()
    if which == "add":
        # No redirect: the page shows the registration code, this once.
        done = submit(request, lambda: services.agent_create(actor=request.user, name=form.cleaned_data["name"]),
                      form=form)
    elif which == "rotate":
        agent = one(selectors.agent_list(fetched_by=request.user), request.POST.get("id"))
        done = submit(request, lambda: services.agent_request_rotation(actor=request.user, agent=agent),
                      success=f"Agent {agent.name} will replace its key at its next contact.", to="ui:connector")
    if done.response:
        return done.response
    created, code = done.result if which == "add" and done.result else (None, "")
    return render(request, "site/connector.html", {
        "status": connector_status(fetched_by=request.user), "agents": selectors.agent_list(fetched_by=request.user),
        "can_manage": MANAGE_AGENTS.allows(request.user), "form": AgentForm(prefix="agent") if created else form,
        "created": created, "code": code, "error": done.error if which == "rotate" else None,
        "portal_url": request.build_absolute_uri("/").rstrip("/")})


@page(get=REVOKE_AGENT, post=REVOKE_AGENT, row=Agent)
def agent_revoke(request, agent):
    done = submit(request, lambda: services.agent_revoke(actor=request.user, agent=agent),
                  success=f"Agent {agent.name} revoked: every request it signs is refused.", to="ui:connector")
    return done.response or render(request, "site/agent_revoke.html", {"agent": agent})
