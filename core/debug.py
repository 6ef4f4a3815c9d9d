"""What error reports (the DEBUG 500 page, the report mailed or logged on a crash) may show.

Django's filter hides settings and request headers whose names look secret, but frame variables and POST fields
only when a view marked them with @sensitive_variables / @sensitive_post_parameters, and nothing at all with DEBUG
on. Secrets pass through code nobody annotates (pyVmomi's connect(pwd=...), boto3, our adapters), so this filter
hides by name everywhere: frame variables, keys of dicts and POST fields, in every frame, with DEBUG on or off.
pyVmomi passes a login's password on as positional arguments (`args`, `posargs`), so its frames show no
variables at all.
"""

import re

from django.views.debug import SafeExceptionReporterFilter

# Credentials inside URLs ("redis://:pw@host", "postgres://user:pw@db/portal").
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.I)


class PortalExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        r"API|AUTH|TOKEN|KEY|SECRET|PASS|PWD|SIGNATURE|COOKIE|CREDENTIAL|PRIVATE|CSRF|SESSION", flags=re.I
    )

    def is_active(self, request):
        # A DEBUG page is still read over someone's shoulder, pasted into tickets and screenshots.
        return True

    def cleanse_setting(self, key, value):
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):  # str() as well: lazy strings pass isinstance but not re.sub
            cleansed = _URL_PASSWORD.sub(rf"\g<head>{self.cleansed_substitute}@", str(cleansed))
        return cleansed

    # Module name prefixes whose frames carry secrets under names that say nothing.
    opaque_modules = ("pyVmomi.", "pyVim.")

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if str(tb_frame.f_globals.get("__name__", "")).startswith(self.opaque_modules):
            return [(name, self.cleansed_substitute) for name, _ in variables]
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if not any(self.hidden_settings.search(name) for name in parameters):
            return parameters
        parameters = parameters.copy()
        for name in parameters:
            if self.hidden_settings.search(name):
                parameters[name] = self.cleansed_substitute
        return parameters
