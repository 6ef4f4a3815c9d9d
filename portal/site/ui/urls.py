"""Every app's pages under one namespace ("ui"); each app owns its own view functions and templates."""

from django.urls import include, path

from portal.site.ui import views

app_name = "ui"
urlpatterns = [
    path("", views.home, name="home"),
    path("audit-log/", views.audit_log, name="audit-log"),
    path("", include("environments.ui.urls")),
    path("", include("migrations_app.ui.urls")),
]
