"""The connector status page (administrators; auditors read it too)."""

from django.shortcuts import render

from core.pages import page
from portal.site.connectors import READ_CONNECTORS, connector_status


@page(get=READ_CONNECTORS)
def connector(request):
    return render(request, "site/connector.html", {"status": connector_status(fetched_by=request.user)})
