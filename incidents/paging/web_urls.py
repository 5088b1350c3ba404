from django.urls import path

from incidents.paging import web

urlpatterns = [
    path("deliveries/", web.deliveries_page, name="paging-deliveries"),
    path("deliveries/<int:pk>/resend/", web.delivery_resend_view, name="paging-delivery-resend"),
    path("profile/", web.profile_page, name="paging-profile"),
    path("incidents/<int:pk>/status-updates/", web.status_update_view, name="paging-status-update"),
]
