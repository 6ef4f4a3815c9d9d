from django.urls import path

from portal.ui import views

app_name = "ui"
urlpatterns = [
    path("", views.home, name="home"),
    path("environments/<int:pk>/", views.environment_detail, name="environment"),
    path("environments/<int:pk>/migrate/", views.migrate, name="migrate"),
    path("audit-log/", views.audit_log, name="audit-log"),
]
