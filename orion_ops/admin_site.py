"""The Django admin, with the app's sign-in lockout.

``/admin/login/`` uses the same throttled form logic and the same counters as
``/accounts/login/``: failures at either add up, and a username or address
locked out at one is locked out at the other.
"""

from django.contrib import admin

from incidents.web.forms import AdminLoginForm
from incidents.web.views.auth import sign_in_failed


class AdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if request.method == "POST" and form is not None and form.errors:
            sign_in_failed(request, form, response)
        return response


class RecordAdmin(admin.ModelAdmin):
    """An admin page for records written by the app (runs, payloads, audit rows): shown, never added or
    edited here. ``deletable`` says whether an administrator may still delete one (append-only records: no)."""

    deletable = True

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)
