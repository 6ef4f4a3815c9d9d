"""What the page shell shows in every page's header, decided by the same `Need`s as the pages themselves."""

from environments.ui.views import READ_SETUP
from migrations_app.ui.views import SEE_VMS
from portal.site.connectors import READ_CONNECTORS
from portal.site.history import READ_HISTORY
from portal.site.ui.notifications import READ_WEBHOOKS, SET_PREFERENCES
from portal.site.ui.views import READ_AUDIT_LOG, READ_PEOPLE, READ_SETTINGS

# The header's groups and the pages each holds (by route name), so that a group is marked when its page is shown.
NAV_GROUPS = {
    "admin": {"users", "user-edit", "group-edit", "settings", "vmimport-role", "connector", "webhooks"},
    "audit": {"history", "audit-log"},
}


def _nav_group(request) -> str:
    match = getattr(request, "resolver_match", None)
    name = match.url_name if match else None
    return next((group for group, names in NAV_GROUPS.items() if name in names), "")


def navigation(request):
    user = getattr(request, "user", None)
    return {
        "nav_group": _nav_group(request),
        "nav_audit_log": READ_AUDIT_LOG.allows(user),
        "nav_history": READ_HISTORY.allows(user),
        "nav_webhooks": READ_WEBHOOKS.allows(user),
        "nav_notifications": SET_PREFERENCES.allows(user),
        "nav_connector": READ_CONNECTORS.allows(user),
        "nav_vms": SEE_VMS.allows(user),
        "nav_setup": READ_SETUP.allows(user),
        "nav_people": READ_PEOPLE.allows(user),
        "nav_settings": READ_SETTINGS.allows(user),
    }
