from django.urls import path

from migrations_app.plans.ui import views

urlpatterns = [
    path("plans/", views.plan_list, name="plans"),
    path("plans/<int:pk>/", views.plan_detail, name="plan"),
    path("plans/<int:pk>/rows/", views.plan_rows, name="plan-rows"),
    path("plans/<int:pk>/export.csv", views.plan_export, name="plan-export"),
    path("plans/<int:pk>/cancel/", views.plan_cancel, name="plan-cancel"),
]
