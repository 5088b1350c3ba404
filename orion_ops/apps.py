from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """``django.contrib.admin`` with Orion Ops' admin site (sign-in lockout)."""

    default_site = "orion_ops.admin_site.AdminSite"
