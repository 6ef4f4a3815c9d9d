from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The site layer: root URLs, the API router, the page shell and the run/demo commands. The only layer that
    may import every app."""

    name = "portal.site"
    label = "site"
    verbose_name = "Portal site"
