from django.urls import path

from exports.ui import views

urlpatterns = [
    path("settings/export/", views.configure, name="export-configure"),
    path("instances/<int:pk>/export/", views.start, name="export-start"),
    path("exports/<int:pk>/cancel/", views.cancel, name="export-cancel"),
    path("exports/<int:pk>/download/", views.download, name="export-download"),
    path("environments/<int:pk>/exports/rows/", views.export_rows, name="export-rows"),
]
