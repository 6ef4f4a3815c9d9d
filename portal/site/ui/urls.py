"""Every app's pages under one namespace ("ui"); each app owns its own view functions and templates."""

from django.urls import include, path

from portal.site.ui import connectors, notifications, views

app_name = "ui"
urlpatterns = [
    path("", views.home, name="home"),
    path("audit-log/", views.audit_log, name="audit-log"),
    path("history/", views.history, name="history"),
    path("connector/", connectors.connector, name="connector"),
    path("connector/agents/<int:pk>/revoke/", connectors.agent_revoke, name="agent-revoke"),
    path("users/", views.users, name="users"),
    path("users/<int:pk>/", views.user_edit, name="user-edit"),
    path("groups/<int:pk>/", views.group_edit, name="group-edit"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/test/", views.connection_test, name="connection-test"),
    path("settings/health/", notifications.connector_health_panel, name="connector-health"),
    path("notifications/", notifications.notification_settings, name="notifications"),
    path("webhooks/", notifications.webhooks, name="webhooks"),
    path("", include("environments.ui.urls")),
    path("", include("migrations_app.ui.urls")),
    path("", include("migrations_app.plans.ui.urls")),
    path("", include("lifecycle.ui.urls")),
    path("", include("exports.ui.urls")),
]
