from django.urls import path, register_converter

from environments.ui import templates_pages, tree, views


class GrantKind:
    """Who a grant is to: a user or a group (anything else names no grant, 404)."""

    regex = "user|group"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(GrantKind, "grant_kind")

urlpatterns = [
    path("regions/", views.regions, name="regions"),
    path("tree/regions/<int:pk>/", tree.tree_region, name="tree-region"),
    path("tree/search/", tree.tree_search, name="tree-search"),
    path("regions/<int:pk>/delete/", views.region_delete, name="region-delete"),
    path("environments/<int:pk>/", views.environment_detail, name="environment"),
    path("environments/<int:pk>/edit/", views.environment_edit, name="environment-edit"),
    path("environments/<int:pk>/delete/", views.environment_delete, name="environment-delete"),
    path("environments/<int:pk>/sync/", views.environment_sync, name="environment-sync"),
    path("environments/<int:pk>/instances/", views.environment_instances, name="environment-instances"),
    path("environments/<int:pk>/templates/", views.environment_templates, name="environment-templates"),
    path("environments/<int:pk>/templates/new/", templates_pages.template_create, name="template-create"),
    path("templates/<int:pk>/edit/", templates_pages.template_edit, name="template-edit"),
    path("templates/<int:pk>/delete/", templates_pages.template_delete, name="template-delete"),
    path("environments/<int:pk>/permissions/", views.environment_permissions, name="environment-permissions"),
    path("environments/<int:pk>/permissions/<grant_kind:kind>/<int:principal>/revoke/", views.environment_grant_revoke,
         name="environment-grant-revoke"),
    path("environments/<int:pk>/tabs/<slug:key>/", views.environment_panel, name="environment-panel"),
    path("instances/<int:pk>/", views.instance_detail, name="instance"),
    path("instances/<int:pk>/power/", views.instance_power, name="instance-power"),
]
