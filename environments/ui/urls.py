from django.urls import path

from environments.ui import views

urlpatterns = [
    path("environments/<int:pk>/", views.environment_detail, name="environment"),
]
