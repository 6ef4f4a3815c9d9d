from django.urls import path

from migrations_app.ui import views

urlpatterns = [
    path("environments/<int:pk>/migrate/", views.migrate, name="migrate"),
]
