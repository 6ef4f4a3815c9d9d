"""Root URLs (site layer): the API, its schema and docs, login, the platform admin and every app's pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("portal.site.ops_urls")),
    path("api/v1/", include("portal.site.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("platform-admin/", admin.site.urls),
    path("", include("portal.site.ui.urls")),
]


def not_found(request, exception):
    """A URL no route matches: under /api/ the API's one error body (clients parse it for every error), elsewhere
    the page. Django calls this only with DEBUG off; with DEBUG on it shows its own debug page instead."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"type": "client_error", "errors": [
            {"code": "not_found", "detail": "Not found.", "attr": None}]}, status=404)
    return defaults.page_not_found(request, exception)


handler404 = not_found
