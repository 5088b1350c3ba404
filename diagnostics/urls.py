"""Diagnostics REST endpoints, under /api/v1/."""

urlpatterns = []
