"""What the page shell shows in every page's header, decided by the same `Need`s as the pages themselves."""

from environments.ui.views import READ_SETUP
from migrations_app.ui.views import SEE_VMS
from portal.site.history import READ_HISTORY
from portal.site.ui.views import MANAGE_PEOPLE, MANAGE_SETTINGS, READ_AUDIT_LOG


def navigation(request):
    user = getattr(request, "user", None)
    return {
        "nav_audit_log": READ_AUDIT_LOG.allows(user),
        "nav_history": READ_HISTORY.allows(user),
        "nav_vms": SEE_VMS.allows(user),
        "nav_setup": READ_SETUP.allows(user),
        "nav_people": MANAGE_PEOPLE.allows(user),
        "nav_settings": MANAGE_SETTINGS.allows(user),
    }
