"""The API root, /api/v1/: one router over every app's routes, so the browsable root lists them all."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from core.api import urls as core_api
from core.connectors import api as agent_api
from core.notifications import api as notification_api
from core.observability import api as observability_api
from environments.api import urls as environment_api
from exports.api import urls as export_api
from lifecycle.api import urls as lifecycle_api
from migrations_app.api import urls as migration_api
from migrations_app.plans.api import urls as plan_api
from portal.site import api_connectors, api_history

APPS = (core_api, environment_api, migration_api, plan_api, export_api, lifecycle_api, api_history, notification_api,
        observability_api, api_connectors, agent_api)

router = DefaultRouter()
for app in APPS:
    for prefix, viewset, basename in app.routes:
        router.register(prefix, viewset, basename=basename)

app_name = "api"
urlpatterns = [pattern for app in APPS for pattern in app.urlpatterns] + [path("", include(router.urls))]
