"""Routes of regions, environments, templates and imported instances; the site mounts them under /api/v1/."""

from environments.api import views

routes = [
    ("regions", views.RegionViewSet, "region"),
    ("environments", views.EnvironmentViewSet, "environment"),
    ("templates", views.TemplateViewSet, "template"),
    ("instances", views.ImportedInstanceViewSet, "instance"),
]
urlpatterns = []
