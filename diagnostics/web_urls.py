from django.urls import path

from diagnostics import views

urlpatterns = [
    path("", views.runbook_list, name="runbook-list"),
    path("<slug:slug>/", views.runbook_detail, name="runbook-detail"),
]
