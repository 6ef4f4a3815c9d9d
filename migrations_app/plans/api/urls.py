"""Routes of migration plans; the site mounts them under /api/v1/."""

from migrations_app.plans.api import views

routes = [
    ("plans", views.PlanViewSet, "plan"),
    ("plan-vms", views.PlanVmViewSet, "plan-vm"),
]
urlpatterns = []
