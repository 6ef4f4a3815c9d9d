"""What the page shell shows in every page's header, decided by the same `Need`s as the pages themselves."""

from portal.site.ui.views import READ_AUDIT_LOG


def navigation(request):
    return {"nav_audit_log": READ_AUDIT_LOG.allows(getattr(request, "user", None))}
