"""Makes the OTP-protected admin site the default one."""

from django.contrib.admin.apps import AdminConfig


class OctopusAdminConfig(AdminConfig):
    default_site = "octopus_mail.admin.OctopusAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        from django.contrib import admin

        from . import checks
        from .staff_admin import register_security_admins

        register_security_admins(admin.site)
        checks.register()
