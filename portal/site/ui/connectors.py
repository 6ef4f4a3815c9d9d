"""The connector status page (administrators; auditors read it too)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from portal.site.connectors import READ_CONNECTORS, connector_status


@login_required
def connector(request):
    if not READ_CONNECTORS.allows(request.user):
        raise Http404()
    return render(request, "site/connector.html", {"status": connector_status(fetched_by=request.user)})
