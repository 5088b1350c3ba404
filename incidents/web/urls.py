"""Browser pages."""

urlpatterns = []
